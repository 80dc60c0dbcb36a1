from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.templates.bootstrap import bootstrap_template, camel_case, escape_literals
from helmforge.core.templates.parsing import parse_template, validate_template
from helmforge.core.yaml_codec import dump_yaml, load_documents
from tests.support.helm import assert_helm_lints

SECRET_VALUE = "c3VwZXItc2VjcmV0LWNhbmFyeQ=="  # base64 of a canary
DIGEST = "0123456789abcdef" * 4
OBJECTS = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web-api, namespace: shop, labels: {{app: web, helm.sh/chart: web-1.0.0}}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      serviceAccountName: web-api
      initContainers:
      - {{name: migrate, image: "registry.local:5000/tools/migrate:2.1"}}
      containers:
      - name: app
        image: ghcr.io/acme/web:1.4.2
        ports: [{{containerPort: 8080}}]
        env:
        - {{name: MODE, value: "fast ${{NOT_A_PLACEHOLDER}}"}}
        - {{name: LEVEL, value: info}}
        - name: PASSWORD
          valueFrom: {{secretKeyRef: {{name: web-secret, key: password}}}}
        envFrom: [{{configMapRef: {{name: web-config}}}}]
        readinessProbe: {{httpGet: {{path: /ready, port: 8080}}}}
        livenessProbe: {{tcpSocket: {{port: 8080}}}}
        resources: {{requests: {{cpu: 100m}}}}
      - name: proxy
        image: envoyproxy/envoy@sha256:{DIGEST}
---
apiVersion: v1
kind: Service
metadata: {{name: web-api, namespace: shop}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: 8080}}, {{name: admin, port: 9000}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: web-api, namespace: shop}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-config, namespace: shop}}
data: {{GREETING: "hello {{{{ .Release.Name }}}}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: web-secret, namespace: shop}}
type: Opaque
data: {{password: {SECRET_VALUE}, tls.key: {SECRET_VALUE}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: shop}}
spec:
  ingressClassName: nginx
  tls: [{{hosts: [shop.example.com], secretName: web-tls}}]
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {{service: {{name: web-api, port: {{number: 80}}}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: web-api, namespace: shop}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web-api}}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: uploads, namespace: shop}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: fast
  resources: {{requests: {{storage: 5Gi}}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: nightly, namespace: shop}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{{name: job, image: "ghcr.io/acme/jobs:1.0"}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: shop}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec: {{containers: [{{name: db, image: "postgres:16"}}]}}
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 10Gi}}}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: web-api, namespace: shop}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}}
subjects: [{{kind: ServiceAccount, name: web-api, namespace: shop}}]
"""


def _objects() -> list[dict[str, Any]]:
    return [d.data for d in load_documents(OBJECTS) if d.data]


def _values(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["values"]


def test_camel_case_and_escaping() -> None:
    assert camel_case("frontend-external") == "frontendExternal"
    assert camel_case("9lives") == "x9lives"
    assert escape_literals({"a": ["${X}", "$${Y}"]}) == {"a": ["$${X}", "$$${Y}"]}


def test_conventional_parameters_per_kind() -> None:
    result = bootstrap_template(_objects(), name="web", kubernetes_version="1.31")
    values = _values(result.document)
    web = values["webApi"]
    assert web["replicaCount"]["default"] == 1
    assert web["image"] == {
        "repository": {
            "default": "ghcr.io/acme/web",
            "description": "Image of container app of Deployment web-api",
        },
        "tag": {
            "default": "1.4.2",
            "description": "Image tag of container app of Deployment web-api",
        },
    }
    assert web["migrate"]["image"]["repository"]["default"] == "registry.local:5000/tools/migrate"
    assert web["migrate"]["image"]["tag"]["default"] == "2.1"
    assert web["proxy"]["image"]["digest"]["default"].startswith("sha256:")
    assert "tag" not in web["proxy"]["image"]
    assert web["env"]["LEVEL"]["default"] == "info"
    assert "PASSWORD" not in web["env"]
    assert web["containerPort"]["default"] == 8080
    assert web["probePort"]["default"] == 8080
    assert web["resources"]["default"] == {"requests": {"cpu": "100m"}}
    assert web["service"]["type"]["default"] == "ClusterIP"
    assert web["service"]["port"]["default"] == 80
    assert web["service"]["adminPort"]["default"] == 9000
    assert web["autoscaling"]["minReplicas"]["default"] == 2
    assert web["autoscaling"]["maxReplicas"]["default"] == 5
    assert values["web"]["ingress"]["className"]["default"] == "nginx"
    assert values["web"]["ingress"]["host"]["default"] == "shop.example.com"
    assert values["webConfig"]["data"]["default"] == {"GREETING": "hello {{ .Release.Name }}"}
    assert values["uploads"]["storage"] == {
        "size": {"default": "5Gi", "description": "Size of uploads"},
        "className": {"default": "fast", "description": "Storage class of uploads"},
    }
    assert values["nightly"]["schedule"]["default"] == "0 3 * * *"
    assert values["db"]["persistence"]["data"]["size"]["default"] == "10Gi"
    assert "namespace" not in values  # references follow ${release.namespace}
    secret = values["webSecret"]["secret"]
    assert secret["password"]["required"] is True
    assert "default" not in secret["password"]
    assert "tlsKey" in secret


def test_cross_references_stay_coherent_and_secrets_never_appear() -> None:
    result = bootstrap_template(_objects(), name="web", kubernetes_version="1.31")
    text = dump_yaml(result.document)
    assert SECRET_VALUE not in text
    resources = {r["id"]: r["manifest"] for r in result.document["spec"]["resources"]}
    deployment = resources["web-api-deployment"]
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert deployment["metadata"]["labels"] == {"app": "web"}  # helm.sh/chart removed
    assert "namespace" not in deployment["metadata"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "web-api"
    assert pod["containers"][0]["envFrom"] == [{"configMapRef": {"name": "web-config"}}]
    assert pod["containers"][0]["env"][0]["value"] == "fast $${NOT_A_PLACEHOLDER}"  # escaped
    assert pod["containers"][0]["env"][1]["value"] == "${values.webApi.env.LEVEL}"
    assert resources["web-api-service"]["spec"]["selector"] == {"app": "web"}
    hpa = resources["web-api-horizontalpodautoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web-api"
    ingress = resources["web-ingress"]["spec"]
    assert ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "web-api"
    assert (
        ingress["tls"][0]["hosts"]
        == [ingress["rules"][0]["host"]]
        == ["${values.web.ingress.host}"]
    )
    binding = resources["web-api-rolebinding"]
    assert binding["subjects"][0] == {
        "kind": "ServiceAccount",
        "name": "web-api",
        "namespace": "${release.namespace}",
    }
    assert (
        resources["web-secret-secret"]["stringData"]["tls.key"]
        == "${values.webSecret.secret.tlsKey}"
    )
    assert any("Secret/web-secret" in note for note in result.notes)


@pytest.mark.helm
def test_bootstrapped_template_validates_and_its_chart_lints(tmp_path: Path) -> None:
    result = bootstrap_template(_objects(), name="web", kubernetes_version="1.31")
    template = parse_template(dump_yaml(result.document), source="web.yaml")
    schemas = load_schema_set("1.31")
    assert [p for p in validate_template(template, schemas=schemas) if p.is_error] == []
    context = parse_context(
        {
            "product": "shop",
            "customer": "acme",
            "environment": "dev",
            "instance": "a1",
            "version": "1.0.0",
        }
    )
    chart = render_chart(
        template,
        context,
        schemas=schemas,
        overrides={"webSecret": {"secret": {"password": "pw", "tlsKey": "k"}}},
        generator_version="test",
    )
    folder = tmp_path / chart.name
    for path, content in chart.files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    assert_helm_lints(folder)
    rendered = "".join(content.decode() for content in chart.files.values())
    assert SECRET_VALUE not in rendered
    deployment = chart.files["templates/web-api-deployment.yaml"].decode()
    assert "fast ${NOT_A_PLACEHOLDER}" in deployment
    config = chart.files["values.yaml"].decode()
    assert "{{ .Release.Name }}" in config
