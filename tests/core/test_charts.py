"""render_chart on the bundled example: files, layers, overrides, versions, determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.files import content_digest
from helmforge.core.charts.rendering import RenderedChart, effective_values, render_chart
from helmforge.core.errors import InputError
from helmforge.core.templates.models import Template
from helmforge.core.templates.parsing import parse_template
from helmforge.core.yaml_codec import load_single
from tests.support.charts import (
    EXAMPLE,
    assert_lints_once,
    assert_only_safe_actions,
    context,
    write_chart,
)
from tests.support.helm import assert_helm_lints

SCHEMAS = load_schema_set("1.31")
TEMPLATE: Template = parse_template(EXAMPLE.read_bytes(), source=str(EXAMPLE))


# Every chart these tests render is also checked by Helm lint.
pytestmark = pytest.mark.helm


def render(**kwargs: Any) -> RenderedChart:
    ctx = kwargs.pop("ctx", context())
    chart = render_chart(TEMPLATE, ctx, schemas=SCHEMAS, generator_version="0.1.0", **kwargs)
    return assert_lints_once(chart)


def values_of(chart: RenderedChart) -> dict[str, Any]:
    data = load_single(chart.files["values.yaml"], source="values.yaml").data
    assert isinstance(data, dict)
    return data


def test_files_of_the_chart() -> None:
    chart = render()
    assert chart.name == "ledger-acme-prod-a1"
    assert chart.version == "3.4.0"
    assert chart.app_version == "3.4.0"
    assert sorted(chart.files) == [
        ".helmignore",
        "Chart.yaml",
        "README.md",
        "templates/NOTES.txt",
        "templates/_helpers.tpl",
        "templates/configmap.yaml",
        "templates/deployment.yaml",
        "templates/hpa.yaml",
        "templates/ingress.yaml",
        "templates/pdb.yaml",
        "templates/service.yaml",
        "templates/serviceaccount.yaml",
        "values.schema.json",
        "values.yaml",
    ]


def test_chart_yaml_records_provenance() -> None:
    chart = render(ctx=context(version="latest"), chart_version="1.0.0")
    text = chart.files["Chart.yaml"].decode()
    assert 'appVersion: "latest"' in text
    data = load_single(text, source="Chart.yaml").data
    assert data["apiVersion"] == "v2"
    assert data["name"] == "ledger-acme-prod-a1"
    assert data["version"] == "1.0.0"
    assert data["type"] == "application"
    assert data["description"] == "Stateless HTTP service behind an Ingress"
    assert data["annotations"] == {
        "helmforge.dev/context-customer": "acme",
        "helmforge.dev/context-environment": "prod",
        "helmforge.dev/context-instance": "a1",
        "helmforge.dev/context-product": "ledger",
        "helmforge.dev/context-version": "latest",
        "helmforge.dev/generator-version": "0.1.0",
        "helmforge.dev/template": "web-service",
        "helmforge.dev/template-version": "1.2.0",
        "helmforge.dev/content-digest": data["annotations"]["helmforge.dev/content-digest"],
    }
    assert data["annotations"]["helmforge.dev/content-digest"].startswith("sha256:")


def test_content_digest_ignores_the_chart_version_only() -> None:
    key = "helmforge.dev/content-digest"

    def digest_of(chart: RenderedChart) -> str:
        annotations = load_single(chart.files["Chart.yaml"], source="Chart.yaml").data[
            "annotations"
        ]
        value = annotations[key]
        assert isinstance(value, str)
        return value

    one = render(ctx=context(version="latest"), chart_version="1.0.0")
    two = render(ctx=context(version="latest"), chart_version="1.0.1")
    assert one.files != two.files
    assert digest_of(one) == digest_of(two)
    other_app = render(ctx=context(version="latest2"), chart_version="1.0.0")
    assert digest_of(other_app) != digest_of(one)
    assert content_digest(
        {p: d for p, d in one.files.items() if p != "Chart.yaml"}, version="1.0.0"
    ) != digest_of(one)


def test_non_semver_app_version_needs_a_chart_version() -> None:
    with pytest.raises(InputError, match="--chart-version"):
        render(ctx=context(version="latest"))


def test_layers_and_when() -> None:
    prod = render()
    values = values_of(prod)
    assert values["replicaCount"] == 3
    assert values["image"]["repository"] == "acme.example.com/web"
    assert values["ingress"]["host"] == "a1.acme.example.com"
    dev = render(ctx=context(environment="dev", customer="globex"))
    assert "templates/hpa.yaml" not in dev.files
    assert "templates/pdb.yaml" not in dev.files
    dev_values = values_of(dev)
    assert dev_values["replicaCount"] == 1
    assert dev_values["image"]["repository"] == "registry.example.com/ledger"
    assert dev_values["image"]["tag"] == "3.4.0"
    assert dev_values["ingress"]["host"] == "a1.globex.dev.example.com"


def test_effective_values_provenance() -> None:
    values, provenance = effective_values(
        TEMPLATE, context(), overrides={"service": {"port": 8080}}
    )
    assert values["service"]["port"] == 8080
    assert provenance["replicaCount"] == "layer 0"
    assert provenance["ingress.host"] == "layer 2"
    assert provenance["image.repository"] == "layer 3"
    assert provenance["image.tag"] == "default"
    assert provenance["service.port"] == "override"
    assert set(provenance) == set(TEMPLATE.parameters)


def test_required_value_without_source_is_named() -> None:
    with pytest.raises(InputError, match=r"ingress\.host") as caught:
        render(ctx=context(environment="staging"))
    assert "--set ingress.host=" in str(caught.value)
    chart = render(ctx=context(environment="staging"), overrides={"ingress": {"host": "x.io"}})
    assert values_of(chart)["ingress"]["host"] == "x.io"


def test_misspelt_override_fails_with_valid_keys() -> None:
    with pytest.raises(InputError) as caught:
        render(overrides={"replicaCont": 2})
    message = str(caught.value)
    assert "values: unknown key(s) replicaCont" in message
    assert "replicaCount" in message
    with pytest.raises(InputError, match=r"values\.image: unknown key\(s\) tga"):
        render(overrides={"image": {"tga": "1"}})


def test_wrong_type_override_names_path_and_field() -> None:
    with pytest.raises(InputError) as caught:
        render(overrides={"replicaCount": "three"})
    assert caught.value.problems
    problem = caught.value.problems[0]
    assert problem.location is not None
    assert problem.location.path == "values.replicaCount"
    assert "'three' is not of type 'integer' (from spec.replicas of deployment)" in str(problem)
    with pytest.raises(InputError, match=r"values\.service\.type"):
        render(overrides={"service": {"type": "Bogus"}})
    with pytest.raises(InputError, match=r"values\.autoscaling\.targetCPUUtilizationPercentage"):
        render(overrides={"autoscaling": {"targetCPUUtilizationPercentage": 101}})


def test_object_and_list_overrides() -> None:
    env = [{"name": "MODE", "value": "fast"}]
    chart = render(overrides={"env": env, "resources": {"limits": {"cpu": "2"}}})
    values = values_of(chart)
    assert values["env"] == env
    assert values["resources"]["limits"] == {"memory": "512Mi", "cpu": "2"}
    with pytest.raises(InputError, match=r"values\.env\[0\]"):
        render(overrides={"env": [{"nmae": "X"}]})


def test_values_yaml_has_descriptions_and_validates() -> None:
    chart = render()
    text = chart.files["values.yaml"].decode()
    assert "# -- Pods to run when autoscaling is off\nreplicaCount: 3\n" in text
    assert '  # -- Image tag; defaults to the app version\n  tag: "3.4.0"\n' in text
    schema = json.loads(chart.files["values.schema.json"])
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(values_of(chart), schema, cls=jsonschema.Draft7Validator)
    assert yaml.safe_load(text) == values_of(chart)  # a YAML 1.1 reader agrees


def test_values_schema_rejects_typos_and_wrong_types() -> None:
    chart = render()
    schema = json.loads(chart.files["values.schema.json"])
    validator = jsonschema.Draft7Validator(schema)
    good = values_of(chart)
    assert not list(validator.iter_errors(good))
    for bad in (
        {**good, "replicaCont": 2},
        {**good, "replicaCount": "3"},
        {**good, "image": {**good["image"], "tga": "x"}},
        {**good, "ingress": {"className": "nginx"}},  # the required host is gone
        {**good, "resources": {"limits": {"cpu": "1"}, "requestz": {}}},
    ):
        assert list(validator.iter_errors(bad)), bad


def test_rendering_is_deterministic() -> None:
    first = render(overrides={"service": {"port": 81, "type": "NodePort"}})
    second = render(overrides={"service": {"type": "NodePort", "port": 81}})
    assert first == second
    reparsed = parse_template(EXAMPLE.read_bytes(), source=str(EXAMPLE))
    third = render_chart(  # the same bytes as an already linted chart
        reparsed,
        context(),
        schemas=SCHEMAS,
        generator_version="0.1.0",
        overrides={"service": {"port": 81, "type": "NodePort"}},
    )
    assert third.files == first.files


def test_every_object_gets_the_standard_labels() -> None:
    chart = render()
    for path, data in chart.files.items():
        if path.startswith("templates/") and path.endswith(".yaml"):
            text = data.decode()
            assert '{{- include "ledger-acme-prod-a1.labels" . | nindent 4 }}' in text, path
            assert_only_safe_actions(text)
    helpers = chart.files["templates/_helpers.tpl"].decode()
    for name in ("name", "fullname", "chart", "selectorLabels", "labels"):
        assert f'define "ledger-acme-prod-a1.{name}"' in helpers
    assert "app.kubernetes.io/managed-by" in helpers
    assert "helm.sh/chart" in helpers


def test_typed_references_in_manifests() -> None:
    deployment = render().files["templates/deployment.yaml"].decode()
    assert "replicas: {{ .Values.replicaCount | int64 }}" in deployment
    assert "imagePullPolicy: {{ .Values.image.pullPolicy | quote }}" in deployment
    assert "resources: {{- toYaml .Values.resources | nindent 12 }}" in deployment
    assert (
        'image: {{ list .Values.image.repository ":" .Values.image.tag | join "" | quote }}'
        in deployment
    )
    pdb = render().files["templates/pdb.yaml"].decode()
    assert "minAvailable: {{ .Values.podDisruptionBudget.minAvailable | toJson }}" in pdb


def test_readme_has_a_values_table() -> None:
    readme = render().files["README.md"].decode()
    assert "| Key | Type | Default | Description |" in readme
    assert "| `replicaCount` | integer | `3` | Pods to run when autoscaling is off |" in readme
    assert "(required) Public host name" in readme


@pytest.mark.helm
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"environment": "dev", "customer": "globex", "instance": "01"},
        {"environment": "uat", "version": "2.0.0-rc.1+build.7"},
    ],
)
def test_example_charts_pass_helm_lint(tmp_path: Path, changes: dict[str, str]) -> None:
    chart = render(ctx=context(**changes))
    assert_helm_lints(write_chart(chart, tmp_path))


@pytest.mark.helm
def test_chart_with_overrides_passes_helm_lint(tmp_path: Path) -> None:
    chart = render(
        overrides={
            "env": [{"name": "A", "value": "on"}],
            "greeting": "yes",
            "service": {"type": "LoadBalancer"},
        }
    )
    assert_helm_lints(write_chart(chart, tmp_path))


SHAPES = """\
apiVersion: helmforge.dev/v1
kind: Template
metadata: {name: shapes, version: 0.1.0}
spec:
  kubernetesVersion: "1.31"
  values:
    probe:
      path: {default: /healthz}
      port: {default: 8080}
    sidecar:
      default: {name: side, image: "busybox:1.36"}
    debug: {default: false}
    podLabels: {default: {team: "on"}}
    config: {default: "a: 1\\n"}
    timeout: {default: 30}
  resources:
    - id: deployment
      manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: "${ctx.name}"}
        spec:
          selector: {matchLabels: {app: x}}
          template:
            metadata:
              labels: ${values.podLabels}
            spec:
              containers:
                - name: app
                  image: nginx
                  stdin: ${values.debug}
                  readinessProbe:
                    httpGet: ${values.probe}
                    timeoutSeconds: ${values.timeout}
                - ${values.sidecar}
    - id: config
      manifest:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: "${ctx.name}"
          labels: ${values.podLabels}
        data:
          app.conf: ${values.config}
          static.conf: |
            server {
              listen 80;
            }
          url: "http://${ctx.name}:${values.timeout}${values.probe.path}"
"""


def test_value_shapes_are_written_by_type(tmp_path: Path) -> None:
    template = parse_template(SHAPES, source="shapes.yaml")
    from helmforge.core.templates.parsing import validate_template

    assert validate_template(template, schemas=SCHEMAS) == []
    chart = render_chart(template, context(), schemas=SCHEMAS, generator_version="0")
    deployment = chart.files["templates/deployment.yaml"].decode()
    assert "httpGet: {{- toYaml .Values.probe | nindent 14 }}" in deployment
    assert "- {{ toJson .Values.sidecar }}" in deployment
    assert "stdin: {{ .Values.debug }}" in deployment
    assert "labels: {{- toYaml .Values.podLabels | nindent 8 }}" in deployment
    config = chart.files["templates/config.yaml"].decode()
    assert "{{- with .Values.podLabels }}" in config
    assert "  static.conf: |\n    server {\n      listen 80;\n    }\n" in config
    assert '(.Values.timeout | int64) .Values.probe.path | join "" | quote }}' in config
    schema = json.loads(chart.files["values.schema.json"])
    assert schema["properties"]["timeout"]["type"] == "integer"
    port = schema["properties"]["probe"]["properties"]["port"]
    assert {option["type"] for option in port["oneOf"]} == {"integer", "string"}
    assert schema["properties"]["debug"]["type"] == "boolean"
    assert schema["properties"]["podLabels"]["additionalProperties"] == {"type": "string"}
    readme = chart.files["README.md"].decode()
    assert "| `probe.port` | string or integer |" in readme
    for text in chart.files.values():
        assert b"\xee\x80\x80" not in text  # no context marker left behind
    with pytest.raises(InputError, match=r"values\.podLabels\.team"):
        render_chart(
            template,
            context(),
            schemas=SCHEMAS,
            generator_version="0",
            overrides={"podLabels": {"team": 1}},
        )
    assert_helm_lints(write_chart(chart, tmp_path))


@pytest.mark.parametrize("host", ["not a host!", "-x.example.com", "a..b", "x" * 64 + ".io"])
def test_formats_are_asserted_like_helm_does(host: str) -> None:
    with pytest.raises(InputError, match=r"values\.ingress\.host: .* is not a 'hostname'"):
        render(overrides={"ingress": {"host": host}})


def test_templates_pickle_without_their_caches() -> None:
    import pickle

    render()  # fills the caches
    assert TEMPLATE.cache
    copy = pickle.loads(pickle.dumps(TEMPLATE))
    assert copy.cache == {}
    assert copy.parameters == TEMPLATE.parameters
    again = render_chart(copy, context(), schemas=SCHEMAS, generator_version="0.1.0")
    assert again == render()
