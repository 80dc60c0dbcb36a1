"""Object names a context makes invalid are refused at generation, naming the template line."""

from __future__ import annotations

import pytest

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import RenderedChart, render_chart
from helmforge.core.errors import InputError
from helmforge.core.templates.parsing import parse_template, validate_template
from tests.support.charts import context

TEMPLATE = """\
apiVersion: helmforge.dev/v1
kind: Template
metadata: {name: names, version: 0.1.0}
spec:
  kubernetesVersion: "1.31"
  resources:
    - id: backup
      manifest:
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: "${ctx.name}-backup"}
        spec:
          schedule: "0 3 * * *"
          jobTemplate:
            spec:
              template:
                spec:
                  restartPolicy: OnFailure
                  containers: [{name: b, image: busybox}]
    - id: migrate
      manifest:
        apiVersion: batch/v1
        kind: Job
        metadata: {name: "${ctx.name}-migrate-${ctx.version}"}
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: m, image: busybox}]
"""
SCHEMAS = load_schema_set("1.31")


def _render(**changes: str) -> RenderedChart:
    template = parse_template(TEMPLATE, source="names.yaml")
    return render_chart(template, context(**changes), schemas=SCHEMAS, generator_version="0.0.0")


def test_short_names_render() -> None:
    chart = _render(version="1.2.3")
    text = b"".join(chart.files.values()).decode()
    assert "ledger-acme-prod-a1-backup" in text
    assert "ledger-acme-prod-a1-migrate-1.2.3" in text


def test_version_with_build_metadata_makes_job_name_invalid() -> None:
    with pytest.raises(InputError) as caught:
        _render(version="1.2.3+b7")
    message = str(caught.value)
    assert message.startswith("names.yaml:24: spec.resources[1].manifest.metadata.name: ")
    assert "Job name 'ledger-acme-prod-a1-migrate-1.2.3+b7' must be a DNS-1123 subdomain" in message


def test_long_context_makes_cronjob_name_too_long() -> None:
    with pytest.raises(InputError) as caught:
        _render(product="a-rather-long-product-name", customer="customer-xy", version="1.0.0")
    assert "names.yaml:11:" in str(caught.value)
    assert "CronJob name" in str(caught.value)
    assert "at most 52 characters" in str(caught.value)


def test_service_name_must_start_with_a_letter() -> None:
    text = TEMPLATE.replace(
        "  resources:\n",
        "  resources:\n    - id: svc\n      manifest:\n        apiVersion: v1\n"
        "        kind: Service\n        metadata: {name: 1st-svc}\n"
        "        spec: {ports: [{port: 80}]}\n",
    )
    problems = validate_template(parse_template(text, source="t.yaml"), schemas=SCHEMAS)
    assert any("Service name '1st-svc' must be a DNS-1035 label" in p.message for p in problems)
