from __future__ import annotations

from pathlib import Path

import pytest

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.access.principals import local_operator
from helmforge.core.charts.rendering import render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template
from helmforge.core.yaml_codec import dump_yaml, load_single
from helmforge.services import catalog
from helmforge.services.template_bootstrap import init_template_file
from tests.support.helm import assert_helm_lints

OPERATOR = local_operator("t")

DEMO = "manifests/microservices-demo"
SERVICES = [
    "adservice",
    "cartservice",
    "checkoutservice",
    "currencyservice",
    "emailservice",
    "frontend",
    "loadgenerator",
    "paymentservice",
    "productcatalogservice",
    "recommendationservice",
    "shippingservice",
    "redis-cart",
]
CONTEXT = {
    "product": "shop",
    "customer": "acme",
    "environment": "dev",
    "instance": "a1",
    "version": "1.0.0",
}


def _render(template_file: Path, out: Path) -> dict[str, bytes]:
    template = parse_template(template_file.read_bytes(), source=str(template_file))
    chart = render_chart(
        template, parse_context(CONTEXT), schemas=load_schema_set("1.31"), generator_version="test"
    )
    for path, content in chart.files.items():
        (out / chart.name / path).parent.mkdir(parents=True, exist_ok=True)
        (out / chart.name / path).write_bytes(content)
    return dict(chart.files)


@pytest.mark.helm
@pytest.mark.parametrize("layout", ["one-file", "split"])
def test_demo_becomes_a_template_whose_chart_lints(
    layout: str, shared_data: Path, tmp_path: Path
) -> None:
    folder = shared_data / DEMO
    paths = (
        [str(folder / "kubernetes-manifests.yaml")]
        if layout == "one-file"
        else sorted(str(p) for p in folder.glob("split-*.yaml"))
    )
    out = tmp_path / "boutique.yaml"
    result = init_template_file(
        paths,
        name="boutique",
        out=out,
        kubernetes_version="1.31",
        stdin=None,
        open_store=None,
        actor=OPERATOR,
    )
    if layout == "split":
        assert [s.reason for s in result.skipped if "Kustomization" in s.reason]
    values = load_single(out.read_bytes()).data["spec"]["values"]
    for service in SERVICES:
        group = values[service.replace("-c", "C")]
        assert "repository" in group["image"], service
        assert "tag" in group["image"], service
        assert "replicaCount" in group, service
    files = _render(out, tmp_path / "chart")
    assert_helm_lints(tmp_path / "chart" / "shop-acme-dev-a1")
    rendered_values = files["values.yaml"].decode()
    assert "repository: " in rendered_values
    assert "cartservice" in rendered_values
    assert (
        "{{ .Values.cartservice.replicaCount"
        in files["templates/cartservice-deployment.yaml"].decode()
    )


def test_rerun_keeps_edits_and_reports_what_it_cannot_carry(tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: app, image: 'nginx:1.25', ports: [{containerPort: 80}]}]}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80}]}\n"
    )
    source.write_text(manifest)
    out = tmp_path / "web.yaml"
    init_template_file(
        [str(source)],
        name="web",
        out=out,
        kubernetes_version="1.31",
        stdin=None,
        open_store=None,
        actor=OPERATOR,
    )
    document = load_single(out.read_bytes()).data
    # The creator edits: a description, the replicas default, a label on the Service.
    document["metadata"]["description"] = "Our web tier"
    document["spec"]["values"]["web"]["replicaCount"]["default"] = 3
    service = document["spec"]["resources"][1]["manifest"]
    service["metadata"]["labels"] = {"team": "a"}
    document["spec"]["values"]["web"]["service"]["port"]["default"] = 8080
    out.write_text(dump_yaml(document))
    # The input changes: new image tag, another port on the Service, the replicas change too.
    changed = manifest.replace("nginx:1.25", "nginx:1.27").replace("replicas: 1", "replicas: 2")
    changed = changed.replace("ports: [{port: 80}]", "ports: [{port: 81}]")
    source.write_text(changed)
    result = init_template_file(
        [str(source)],
        name="web",
        out=out,
        kubernetes_version="1.31",
        stdin=None,
        open_store=None,
        actor=OPERATOR,
    )
    merged = load_single(out.read_bytes()).data
    assert merged["metadata"]["description"] == "Our web tier"
    assert merged["spec"]["values"]["web"]["image"]["tag"]["default"] == "1.27"
    assert merged["spec"]["values"]["web"]["replicaCount"]["default"] == 3
    assert merged["spec"]["resources"][1]["manifest"]["metadata"]["labels"] == {"team": "a"}
    assert merged["spec"]["values"]["web"]["service"]["port"]["default"] == 8080
    assert sorted(result.not_carried_over) == [
        "spec.values.web.replicaCount.default: changed in the input and by the creator; "
        "the creator's value kept",
        "spec.values.web.service.port.default: changed in the input and by the creator; "
        "the creator's value kept",
    ]


def test_init_from_catalog_entries_and_bad_input_writes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    store = catalog.open_catalog(database_url)
    text = (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: n}\ndata: {a: b}\n"
    )
    catalog.import_sources(store.sessions, [catalog.Source("c.yaml", text)], actor=OPERATOR)
    out = tmp_path / "cfg.yaml"
    init_template_file(
        ["catalog:ConfigMap/n/settings"], name="cfg", out=out, kubernetes_version="1.31",
        stdin=None, open_store=lambda: catalog.open_catalog(database_url), actor=OPERATOR,
    )  # fmt: skip
    assert load_single(out.read_bytes()).data["spec"]["values"]["settings"]["data"]["default"] == {
        "a": "b"
    }
    with pytest.raises(InputError, match="DNS-1123"):
        init_template_file(
            [str(tmp_path / "cfg.yaml")], name="Bad_Name", out=tmp_path / "x.yaml",
            kubernetes_version="1.31", stdin=None, open_store=None, actor=OPERATOR,
        )  # fmt: skip
    assert not (tmp_path / "x.yaml").exists()
    store.engine.dispose()


def _init(tmp_path: Path, text: str) -> Path:
    source = tmp_path / "deploy.yaml"
    source.write_text(text)
    init_template_file(
        [str(source)],
        name="web",
        out=tmp_path / "web.yaml",
        kubernetes_version="1.31",
        stdin=None,
        open_store=None,
        actor=OPERATOR,
    )
    return source


_NO_SELECTOR = (
    "---\n"
    "# the web server\n"
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: web\n"
    "spec:\n"
    "  replicas: 2\n"
    "  template:\n"
    "    metadata: {labels: {app: web}}\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: web\n"
    "        image: nginx\n"
    "        ports:\n"
    "        - containerPort: eighty\n"
)


def test_init_errors_name_the_line_of_the_field_or_of_its_nearest_ancestor(
    tmp_path: Path,
) -> None:
    with pytest.raises(InputError) as raised:
        _init(tmp_path, _NO_SELECTOR)
    source = tmp_path / "deploy.yaml"
    assert [str(problem.location) for problem in raised.value.problems] == [
        f"{source}:7: Deployment/web spec",  # spec.selector is missing: spec is where it goes
        f"{source}:16: Deployment/web spec.template.spec.containers[0].ports[0].containerPort",
    ]
    assert not (tmp_path / "web.yaml").exists()


def test_init_of_a_helm_chart_template_says_to_render_it_first(tmp_path: Path) -> None:
    chart_template = (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        '  name: {{ include "web.fullname" . }}\n'
        "spec:\n"
        "  replicas: {{ .Values.replicaCount }}\n"
    )
    with pytest.raises(InputError) as raised:
        _init(tmp_path, chart_template)
    assert str(raised.value).startswith(
        f"{tmp_path / 'deploy.yaml'}:4: this is a Helm chart template ('{{{{' starts a template "
        "action), not Kubernetes YAML: render the chart first (helm template RELEASE CHART > "
        "rendered.yaml) and give the rendered YAML instead"
    )
    assert not (tmp_path / "web.yaml").exists()
