from __future__ import annotations

from pathlib import Path

import pytest

from helmforge.core.errors import InputError, TooLargeError
from helmforge.core.manifests.reading import (
    content_hash,
    read_manifest_batches,
    read_manifests,
    split_documents,
)
from helmforge.core.yaml_codec import YamlLimits, load_documents


def test_multi_document_stream_with_bom_crlf_comments_and_empty_documents() -> None:
    text = (
        "\ufeff# leading comment\r\n---\r\n---\r\napiVersion: v1\r\nkind: ConfigMap\r\n"
        "metadata: {name: a, namespace: ns}\r\ndata: {on: yes}\r\n---\r\n# only a comment\r\n"
    )
    result = read_manifests(text.encode(), source="in.yaml")
    assert [(o.kind, o.name, o.namespace) for o in result.objects] == [("ConfigMap", "a", "ns")]
    assert result.objects[0].body["data"] == {"on": "yes"}
    assert result.skipped == []


def test_kind_list_is_unwrapped_including_nested_lists() -> None:
    text = """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: s}}
- apiVersion: v1
  kind: ConfigMapList
  items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c1}}
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: c2}}
"""
    result = read_manifests(text, source="list.yaml")
    assert [o.name for o in result.objects] == ["s", "c1", "c2"]


def test_json_input_is_read() -> None:
    text = '{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}'
    result = read_manifests(text, source="d.json")
    assert result.objects[0].group == "apps"
    assert result.objects[0].version == "v1"
    assert result.objects[0].reference == "Deployment/web"


def test_non_cluster_documents_are_skipped_with_reasons() -> None:
    text = """
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [a.yaml]
---
replicaCount: 3
---
apiVersion: v1
kind: Pod
metadata: {generateName: web-}
---
- just a list
"""
    result = read_manifests(text, source="k.yaml")
    assert result.objects == []
    reasons = [s.reason for s in result.skipped]
    assert "tool's configuration file" in reasons[0]
    assert "no apiVersion" in reasons[1]
    assert "generateName" in reasons[2]
    assert "not a Kubernetes object" in reasons[3]
    assert str(result.skipped[0]).startswith("k.yaml:2: skipped")


def test_content_hash_ignores_key_order() -> None:
    assert content_hash({"a": 1, "b": [1, {"c": "é"}]}) == content_hash(
        {"b": [1, {"c": "é"}], "a": 1}
    )
    assert content_hash({"a": 1}) != content_hash({"a": "1"})


def test_bad_yaml_names_the_source_and_line() -> None:
    with pytest.raises(InputError, match=r"bad.yaml:3"):
        read_manifests("a: 1\nb: 2\na: 3\n", source="bad.yaml")


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(
        TooLargeError, match=r"^big\.yaml: 500 bytes is over the limit of 100 bytes$"
    ):
        read_manifests("a: 1\n" * 100, source="big.yaml", limits=YamlLimits(max_bytes=100))


def test_microservices_demo_reads(shared_data: Path) -> None:
    path = shared_data / "manifests/microservices-demo/kubernetes-manifests.yaml"
    result = read_manifests(path.read_bytes(), source=str(path))
    kinds = {o.kind for o in result.objects}
    assert kinds == {"Deployment", "Service", "ServiceAccount"}
    assert len([o for o in result.objects if o.kind == "Deployment"]) == 12


def test_batches_keep_the_lines_of_the_whole_stream() -> None:
    document = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{index}\n"
    text = "".join(document.format(index=index) for index in range(450))
    text += "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: y}\n"
    batches = list(read_manifest_batches(text[: -len("metadata: {name: y}\n")], source="s.yaml"))
    assert len(batches) == 3
    objects = [o for batch in batches for o in batch.objects]
    assert [o.line for o in objects[:2]] == [1, 6]
    assert objects[449].line == 449 * 5 + 1
    with pytest.raises(InputError, match=r"s.yaml:2255: .*duplicate key 'metadata'"):
        read_manifests(text, source="s.yaml")


def test_directives_keep_the_stream_whole() -> None:
    text = "%YAML 1.2\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    assert [o.name for o in read_manifests(text, source="d.yaml").objects] == ["a"]


_TWO_OBJECTS = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: b}\n"
    "---\n"
    "# the web server\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: web\n"
    "  annotations:\n"
    "    app.kubernetes.io/name: web\n"
    "spec:\n"
    "  replicas: two\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: web\n"
    "        image: nginx\n"
)


def test_field_lines_name_the_line_of_the_field_not_of_the_document_separator() -> None:
    web = read_manifests(_TWO_OBJECTS, source="in.yaml").objects[1]
    assert web.line == 5  # where its document starts, the "---"
    assert web.field_line("spec.replicas") == 14
    assert web.field_line(("spec", "replicas")) == 14
    assert web.field_line("spec.template.spec.containers[0].image") == 19
    assert web.field_line("metadata.annotations.app.kubernetes.io/name") == 12


def test_field_lines_of_a_missing_field_fall_back_to_its_nearest_ancestor_in_the_input() -> None:
    web = read_manifests(_TWO_OBJECTS, source="in.yaml").objects[1]
    assert web.field_line("spec.selector.matchLabels") == 13
    assert web.field_line("spec.template.spec.containers[3].image") == 17
    assert web.field_line("metadata.labels.app") == 9


def test_field_lines_without_any_ancestor_fall_back_to_the_first_line_not_the_separator() -> None:
    web = read_manifests(_TWO_OBJECTS, source="in.yaml").objects[1]
    assert web.field_line("data.x") == 7
    assert web.field_line("") == 7


def test_field_lines_of_list_items_and_later_batches_are_lines_of_the_whole_stream() -> None:
    listed = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n  data:\n    x: y\n"
    )
    text = f"{_TWO_OBJECTS}---\n{listed}---\n{listed.replace('name: c', 'name: d')}"
    batches = list(read_manifest_batches(text, source="in.yaml", batch_documents=2))
    objects = [item for batch in batches for item in batch.objects]
    assert len(batches) == 2
    assert [
        (item.name, item.field_line("data.x"), item.field_line("spec")) for item in objects
    ] == [
        ("a", 4, 1),
        ("web", 7, 13),
        ("c", 28, 24),
        ("d", 37, 33),
    ]


def test_objects_read_without_their_text_name_the_document_line() -> None:
    (document,) = [d for d in load_documents(_TWO_OBJECTS) if d.data["kind"] == "Deployment"]
    (web,) = split_documents([document], source="cluster:test").objects
    assert web.lines is None
    assert web.field_line("spec.replicas") == 5


def test_field_lines_are_read_only_for_the_document_asked_about() -> None:
    a, web = read_manifests(_TWO_OBJECTS, source="in.yaml").objects
    assert web.field_line("spec.replicas") == 14
    assert a.lines is not None
    assert web.lines is not None
    assert web.lines.document.line_map() is web.lines.document.line_map()
    assert not a.lines.document.has_line_map


_HELM_TEMPLATE = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n"
    "---\n"
    "# Source: web/templates/deployment.yaml\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    '  name: {{ include "web.fullname" . }}\n'
    "  labels:\n"
    '    {{- include "web.labels" . | nindent 4 }}\n'
    "spec:\n"
    "  replicas: {{ .Values.replicaCount }}\n"
)


def test_a_helm_chart_template_is_named_as_one_at_its_first_action() -> None:
    with pytest.raises(InputError) as raised:
        read_manifests(_HELM_TEMPLATE, source="templates/deployment.yaml")
    message = str(raised.value)
    assert message.startswith(
        "templates/deployment.yaml:9: this is a Helm chart template ('{{' starts a template "
        "action), not Kubernetes YAML: render the chart first (helm template RELEASE CHART > "
        "rendered.yaml) and give the rendered YAML instead (as YAML it fails on line 9: "
    )
    assert raised.value.location is not None
    assert raised.value.location.line == 9


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("replicas: {{ .Values.replicaCount }}", "replicas"),
        ("{{- if .Values.enabled }}", "if"),
        ("name: {{ .Release.Name }}-web", "name"),
    ],
)
def test_a_helm_chart_template_in_a_later_batch_names_the_line_of_the_stream(
    line: str, action: str
) -> None:
    plain = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n"
    text = plain * 3 + f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n{line}\n"
    with pytest.raises(InputError) as raised:
        list(read_manifest_batches(text, source=f"{action}.yaml", batch_documents=2))
    assert str(raised.value).startswith(f"{action}.yaml:18: this is a Helm chart template")


def test_go_templates_in_valid_yaml_strings_are_read_verbatim_not_refused() -> None:
    alertmanager = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: alert-templates}\ndata:\n"
        "  slack.tmpl: |\n"
        '    {{ define "slack.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}'
        "{{ end }}\n"
        "  summary: '{{ $labels.instance }} is down'\n"
        '  flow: {text: "{{ .Value }}"}\n'
    )
    (item,) = read_manifests(alertmanager, source="alerts.yaml").objects
    assert item.body["data"] == {
        "slack.tmpl": '{{ define "slack.title" }}[{{ .Status | toUpper }}] '
        "{{ .CommonLabels.alertname }}{{ end }}\n",
        "summary": "{{ $labels.instance }} is down",
        "flow": {"text": "{{ .Value }}"},
    }


@pytest.mark.parametrize(
    "text",
    [
        "data:\n  summary: '{{ $labels.instance }} is down'\n  a: b\n   c: d\n",
        "data:\n  a: b\n  # see {{ .Values.c }}\n   c: d\n",
    ],
)
def test_a_yaml_error_away_from_any_action_stays_a_yaml_error(text: str) -> None:
    with pytest.raises(InputError) as raised:
        read_manifests(text, source="in.yaml")
    assert "Helm" not in str(raised.value)
    assert str(raised.value).startswith("in.yaml:4: invalid YAML")
