"""Import fidelity: public and hand-written manifest sets through ``template init`` and
generation come back as charts Helm can install, each defect named by its test."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.charts.rendering import render_chart
from helmforge.core.contexts import parse_context
from helmforge.core.errors import InputError
from helmforge.core.manifests.cleaning import clean_object
from helmforge.core.templates.bootstrap import bootstrap_template
from helmforge.core.templates.parsing import parse_template, validate_template
from helmforge.core.templates.removed_apis import removed_api
from helmforge.core.templates.selected_labels import SelectorNode, selector_nodes
from helmforge.core.yaml_codec import dump_yaml, load_single
from helmforge.services.chart_checks import lint_chart
from tests.support.charts import RELEASE_NAMESPACE, simulate_helm
from tests.support.template_inits import CONTEXT, chart_files, init_objects

ARGO_APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source: {repoURL: 'https://github.com/argoproj/argocd-example-apps.git', path: guestbook}
  destination: {server: 'https://kubernetes.default.svc', namespace: guestbook}
"""


@pytest.mark.helm
@pytest.mark.slow
def test_crds_land_in_templates_beside_their_custom_resources(
    shared_data: Path, tmp_path: Path
) -> None:
    argocd = shared_data / "argocd"
    out, _result = init_objects(
        tmp_path,
        argocd / "application-crd.yaml",
        argocd / "appproject-crd.yaml",
        ARGO_APPLICATION,
        name="argo",
    )
    template = parse_template(out.read_bytes(), source=str(out))
    (warning,) = validate_template(template, schemas=load_schema_set("1.31"))
    assert warning.message == (
        "Application (argoproj.io/v1alpha1) is not in the Kubernetes 1.31 schemas (its "
        "CustomResourceDefinition is in this template, installed from crds/): it is not checked"
    )
    files = chart_files(out, tmp_path / "chart")
    crds = sorted(path for path in files if path.startswith("crds/"))
    assert crds == [
        "crds/applications-argoproj-io-customresourcedefinition.yaml",
        "crds/appprojects-argoproj-io-customresourcedefinition.yaml",
    ]
    assert not [p for p in files if "customresourcedefinition" in p and p.startswith("templates/")]
    assert "templates/guestbook-application.yaml" in files
    # crds/ is not templated by Helm: plain YAML, the source CRD unchanged but for its labels.
    written = yaml.safe_load(files[crds[0]])
    source = yaml.safe_load((argocd / "application-crd.yaml").read_text())
    assert written["spec"] == source["spec"]
    assert written["metadata"]["labels"] == {
        "app.kubernetes.io/name": "shop-acme-dev-a1",
        "app.kubernetes.io/part-of": "argocd",
        "app.kubernetes.io/version": "1.0.0",
        "helm.sh/chart": "shop-acme-dev-a1-1.0.0",
    }


def test_crd_with_a_values_placeholder_is_refused(tmp_path: Path) -> None:
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "${values.group}",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    document = {
        "apiVersion": "helmforge.dev/v1",
        "kind": "Template",
        "metadata": {"name": "w", "version": "0.1.0"},
        "spec": {
            "kubernetesVersion": "1.31",
            "values": {"group": {"default": "example.com"}},
            "resources": [{"id": "crd", "manifest": crd}],
        },
    }
    template = parse_template(dump_yaml(document), source="w.yaml")
    problems = list(validate_template(template, schemas=load_schema_set("1.31")))
    assert [str(p) for p in problems if p.is_error] == [
        "w.yaml:19: spec.resources[0].manifest.spec.group: crd: a CustomResourceDefinition goes "
        "to the chart's crds/, which Helm does not template: ${values.group} cannot be used here "
        "(write the text literally, or use ${ctx.*})"
    ]
    with pytest.raises(InputError, match=r"crds/, which Helm does not template"):
        render_chart(
            template,
            parse_context(CONTEXT),
            schemas=load_schema_set("1.31"),
            generator_version="test",
        )


CRONJOB_V1BETA1 = """\
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: job, image: 'busybox:1.36'}]
"""


def test_removed_api_versions_pass_init_validate_and_generate(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"removed in Kubernetes 1\.25.*use apiVersion: batch/v1"):
        init_objects(tmp_path, CRONJOB_V1BETA1, name="nightly")
    assert not (tmp_path / "nightly.yaml").exists()
    # A template written by hand (or for an older kubernetesVersion, then raised) fails the
    # checks and generation alike.
    document = {
        "apiVersion": "helmforge.dev/v1",
        "kind": "Template",
        "metadata": {"name": "nightly", "version": "0.1.0"},
        "spec": {
            "kubernetesVersion": "1.31",
            "resources": [{"id": "cron", "manifest": load_single(CRONJOB_V1BETA1).data}],
        },
    }
    template = parse_template(dump_yaml(document), source="nightly.yaml")
    errors = [p for p in validate_template(template, schemas=load_schema_set("1.31")) if p.is_error]
    assert [str(p) for p in errors] == [
        "nightly.yaml:11: spec.resources[0].manifest.apiVersion: cron: CronJob batch/v1beta1 was "
        "removed in Kubernetes 1.25 (this template targets 1.31), so Helm cannot install it: "
        "use apiVersion: batch/v1"
    ]
    with pytest.raises(InputError, match=r"CronJob cron: .*use apiVersion: batch/v1"):
        render_chart(
            template,
            parse_context(CONTEXT),
            schemas=load_schema_set("1.31"),
            generator_version="test",
        )


def test_removed_api_is_accepted_for_a_kubernetes_version_before_its_removal() -> None:
    assert removed_api("batch/v1beta1", "CronJob", "1.24") is None
    found = removed_api("batch/v1beta1", "CronJob", "1.25")
    assert found is not None
    assert found.replacement == "batch/v1"
    policy = removed_api("policy/v1beta1", "PodSecurityPolicy", "1.31")
    assert policy is not None
    assert policy.replacement is None
    assert removed_api("batch/v1", "CronJob", "1.31") is None


SELECTED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app.kubernetes.io/name: web}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: web, app.kubernetes.io/instance: prod}}
  template:
    metadata: {labels: {app.kubernetes.io/name: web, app.kubernetes.io/instance: prod}}
    spec: {containers: [{name: web, image: 'nginx:1.27', ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app.kubernetes.io/name: web, app.kubernetes.io/instance: prod, team: a}
spec:
  selector: {app.kubernetes.io/name: web, app.kubernetes.io/instance: prod}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db, labels: {app.kubernetes.io/name: db, app.kubernetes.io/instance: prod}}
spec: {selector: {app: db}, ports: [{name: sql, port: 5432}]}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: web}
    matchExpressions: [{key: app.kubernetes.io/instance, operator: In, values: [prod]}]
  endpoints: [{port: http}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: web-aggregate}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {app.kubernetes.io/name: web-rbac}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: web-view, labels: {app.kubernetes.io/name: web-rbac}}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: other, labels: {app.kubernetes.io/name: other}}
rules: [{apiGroups: [""], resources: [services], verbs: [get]}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug, labels: {app.kubernetes.io/name: debug}}
spec: {containers: [{name: sh, image: 'busybox:1.36'}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: debug}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: debug}}
  policyTypes: [Ingress]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app.kubernetes.io/name: web}}}
"""


def _selects(selector: SelectorNode, labels: dict[str, str]) -> bool:
    if selector.plain:
        return all(labels.get(key) == value for key, value in selector.node.items())
    if any(labels.get(k) != v for k, v in (selector.node.get("matchLabels") or {}).items()):
        return False
    for expression in selector.node.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if (operator == "Exists") != (key in labels) and operator in ("Exists", "DoesNotExist"):
            return False
    return True


def _selections(manifests: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Selector owner -> the objects (and workload pods) it chooses among ``manifests``."""
    candidates: list[tuple[str, str, dict[str, str]]] = []
    for manifest in manifests:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        candidates.append((manifest["kind"], name, manifest["metadata"].get("labels") or {}))
        template = (manifest.get("spec") or {}).get("template")
        if isinstance(template, dict):
            candidates.append(("Pod", f"pods of {name}", template["metadata"].get("labels") or {}))
    chosen: dict[str, set[str]] = {}
    for manifest in manifests:
        for index, selector in enumerate(selector_nodes(manifest)):
            chosen[f"{selector.owner}#{index}"] = {
                name
                for kind, name, labels in candidates
                if kind in selector.targets and _selects(selector, labels)
            }
    return chosen


@pytest.mark.helm
def test_rewriting_the_standard_labels_breaks_selectors_between_objects(tmp_path: Path) -> None:
    out, result = init_objects(tmp_path, SELECTED, name="web")
    files = chart_files(out, tmp_path / "chart")
    values = yaml.safe_load(files["values.yaml"])
    rendered: list[dict[str, Any]] = []
    for path, text in sorted(files.items()):
        if path.startswith("templates/") and path.endswith(".yaml"):
            manifest = yaml.safe_load(simulate_helm(text, values))
            # what _helpers.tpl writes on every top-level object, release "rel"
            manifest["metadata"]["labels"].update(
                {"app.kubernetes.io/name": "shop-acme-dev-a1", "app.kubernetes.io/instance": "rel"}
            )
            # cluster-scoped names carry the chart name (compared without it)
            metadata = manifest["metadata"]
            metadata["name"] = metadata["name"].removeprefix("shop-acme-dev-a1-")
            rendered.append(manifest)
    before = _selections(list(yaml.safe_load_all(SELECTED)))
    assert before["ServiceMonitor/web#0"] == {"Service/web"}
    assert before["ClusterRole/web-aggregate#0"] == {"ClusterRole/web-view"}
    assert before["NetworkPolicy/debug#0"] == {"Pod/debug"}
    assert before["PodDisruptionBudget/web#0"] == {"pods of Deployment/web"}
    assert _selections(rendered) == before
    assert (
        "ServiceMonitor/web: its selector now uses imported.helmforge.dev/name instead of "
        "app.kubernetes.io/name (helmforge sets app.kubernetes.io/name on every object), so it "
        "selects the same objects"
    ) in result.notes
    assert (
        "Service/web: label app.kubernetes.io/instance=prod also kept as "
        "imported.helmforge.dev/instance (selected by ServiceMonitor/web)"
    ) in result.notes
    assert (
        "Service/db: label app.kubernetes.io/name=db removed (helmforge sets its own value on "
        "every object)"
    ) in result.notes


CLUSTER_SCOPED = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: controller, namespace: ingress}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ingress-controller}
rules: [{apiGroups: [""], resources: [services], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ingress-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ingress-controller}
subjects: [{kind: ServiceAccount, name: controller, namespace: ingress}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ingress-aggregate}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {example.com/aggregate-to-ingress: "true"}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ingress-extra, labels: {example.com/aggregate-to-ingress: "true"}}
rules: [{apiGroups: [""], resources: [endpoints], verbs: [get]}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: ingress-critical}
value: 1000000
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: ingress}
spec:
  selector: {matchLabels: {app: controller}}
  template:
    metadata: {labels: {app: controller}}
    spec:
      serviceAccountName: controller
      priorityClassName: ingress-critical
      containers: [{name: controller, image: 'registry.k8s.io/ingress-nginx/controller:v1.11.2'}]
---
apiVersion: v1
kind: Service
metadata: {name: admission, namespace: ingress}
spec: {selector: {app: controller}, ports: [{name: https, port: 443}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: ingress-admission}
webhooks:
  - name: validate.nginx.ingress.kubernetes.io
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: {service: {name: admission, namespace: ingress, path: /networking/v1/ingresses}}
    rules:
      - apiGroups: [networking.k8s.io]
        apiVersions: [v1]
        operations: [CREATE]
        resources: [ingresses]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: ingress}
spec:
  ingressClassName: nginx
  rules:
    - host: shop.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: admission, port: {number: 443}}}}
"""
_CLUSTER_KINDS = {
    "ClusterRole",
    "ClusterRoleBinding",
    "IngressClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
}


def _installed(files: dict[str, str], chart: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> the object Helm would install, standard labels as _helpers.tpl has."""
    values = yaml.safe_load(files["values.yaml"])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, text in files.items():
        if path.startswith("templates/") and path.endswith(".yaml"):
            manifest = yaml.safe_load(simulate_helm(text, values))
            manifest["metadata"]["labels"]["app.kubernetes.io/name"] = chart
            found[(manifest["kind"], manifest["metadata"]["name"])] = manifest
    return found


@pytest.mark.helm
def test_two_instances_of_one_chart_cannot_share_a_cluster(tmp_path: Path) -> None:
    out, result = init_objects(tmp_path, CLUSTER_SCOPED, name="ingress")
    charts = {}
    for instance in ("a1", "a2"):
        chart = f"shop-acme-dev-{instance}"
        charts[instance] = _installed(
            chart_files(out, tmp_path / instance, instance=instance), chart
        )
    names = {
        instance: {key for key in objects if key[0] in _CLUSTER_KINDS}
        for instance, objects in charts.items()
    }
    assert len(names["a1"]) == len(names["a2"]) == 7
    assert not names["a1"] & names["a2"]
    for instance, objects in charts.items():
        prefix = f"shop-acme-dev-{instance}-"
        assert {name for _kind, name in names[instance]} == {
            prefix + "ingress-controller",
            prefix + "ingress-aggregate",
            prefix + "ingress-extra",
            prefix + "nginx",
            prefix + "ingress-critical",
            prefix + "ingress-admission",
        }
        binding = objects[("ClusterRoleBinding", prefix + "ingress-controller")]
        assert ("ClusterRole", binding["roleRef"]["name"]) in objects
        assert binding["subjects"][0]["namespace"] == RELEASE_NAMESPACE
        deployment = objects[("Deployment", "controller")]
        priority = deployment["spec"]["template"]["spec"]["priorityClassName"]
        assert ("PriorityClass", priority) in objects
        ingress = objects[("Ingress", "web")]
        assert ("IngressClass", ingress["spec"]["ingressClassName"]) in objects
        webhook = objects[("ValidatingWebhookConfiguration", prefix + "ingress-admission")]
        service = webhook["webhooks"][0]["clientConfig"]["service"]
        assert ("Service", service["name"]) in objects
        assert service["namespace"] == RELEASE_NAMESPACE
        aggregate = objects[("ClusterRole", prefix + "ingress-aggregate")]
        (selector,) = aggregate["aggregationRule"]["clusterRoleSelectors"]
        assert selector["matchLabels"] == {
            "example.com/aggregate-to-ingress": "true",
            "app.kubernetes.io/name": f"shop-acme-dev-{instance}",
        }
    assert "namespace" not in load_single(out.read_bytes()).data["spec"]["values"]
    assert (
        "ClusterRole/ingress-controller: named ${ctx.name}-ingress-controller (cluster-scoped: "
        "one name per chart, so two instances can share a cluster)"
    ) in result.notes
    assert {
        "ClusterRoleBinding/ingress-controller: roleRef.name follows "
        "ClusterRole/ingress-controller",
        "Deployment/controller: pod.priorityClassName follows PriorityClass/ingress-critical",
        "Ingress/web: spec.ingressClassName (its default) follows IngressClass/nginx",
    } <= set(result.notes)


@pytest.mark.helm
def test_references_to_moved_objects_keep_the_namespace_they_came_from(tmp_path: Path) -> None:
    """The objects install into the release namespace, so what names them there (RoleBinding
    subjects, the Service behind a webhook) must too, wherever Helm installs the chart: the
    `namespace` value init used to write kept the source namespace (`ingress`) as its default,
    so RBAC and the webhook broke in an instance's namespace."""
    from helmforge.adapters import helm_render

    out, result = init_objects(tmp_path, CLUSTER_SCOPED, name="ingress")
    template = parse_template(out.read_bytes(), source=str(out))
    assert "namespace" not in template.parameters
    assert [
        p for p in validate_template(template, schemas=load_schema_set("1.31")) if p.is_error
    ] == []
    assert (
        "namespace ingress in the references of ClusterRoleBinding/ingress-controller, "
        "ValidatingWebhookConfiguration/ingress-admission follows the release namespace "
        "(${release.namespace})"
    ) in result.notes
    chart_files(out, tmp_path / "chart")
    chart = tmp_path / "chart" / "shop-acme-dev-a1"
    for namespace in ("shop-acme-dev-a1", "elsewhere"):
        manifest = helm_render.render_chart(
            chart, {}, release_name="shop-acme-dev-a1", namespace=namespace
        )
        objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(manifest) if o}
        prefix = "shop-acme-dev-a1-"
        binding = objects[("ClusterRoleBinding", prefix + "ingress-controller")]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "controller", "namespace": namespace}
        ]
        webhook = objects[("ValidatingWebhookConfiguration", prefix + "ingress-admission")]
        assert webhook["webhooks"][0]["clientConfig"]["service"]["namespace"] == namespace
        assert "namespace" not in objects[("ServiceAccount", "controller")]["metadata"]


def _template_document(values: dict[str, Any], manifest: dict[str, Any], **spec: Any) -> bytes:
    return dump_yaml(
        {
            "apiVersion": "helmforge.dev/v1",
            "kind": "Template",
            "metadata": {"name": "w", "version": "0.1.0"},
            "spec": {
                "kubernetesVersion": "1.31",
                "values": values,
                **spec,
                "resources": [{"id": "it", "manifest": manifest}],
            },
        }
    )


def test_release_namespace_is_refused_in_values_and_in_crds() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    text = _template_document(
        {"where": {"default": "${release.namespace}"}},
        config_map,
        layers=[{"when": {"environment": "prod"}, "values": {"where": "x-${release.namespace}"}}],
    )
    with pytest.raises(InputError) as refused:
        parse_template(text, source="w.yaml")
    message = " | ".join(str(problem) for problem in refused.value.problems)
    assert "spec.values.where.default: ${release.namespace} is known only when Helm" in message
    assert "spec.layers[0].values.where: ${release.namespace} is known only when Helm" in message
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
            "conversion": {
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {
                        "service": {"name": "convert", "namespace": "${release.namespace}"}
                    },
                },
            },
        },
    }
    template = parse_template(_template_document({}, crd), source="w.yaml")
    problems = [str(p) for p in validate_template(template, schemas=load_schema_set("1.31"))]
    assert any(
        "spec.resources[0].manifest.spec.conversion.webhook.clientConfig.service.namespace: it: "
        "a CustomResourceDefinition goes to the chart's crds/, which Helm does not template: "
        "${release.namespace} cannot be used here" in problem
        for problem in problems
    ), problems
    with pytest.raises(InputError, match=r"not \$\{values.\*\} or \$\{release.\*\}"):
        render_chart(
            template, parse_context(CONTEXT), schemas=load_schema_set("1.31"), generator_version="t"
        )


DUAL_STACK = """\
apiVersion: v1
kind: Service
metadata: {name: controller, namespace: ingress-nginx}
spec:
  type: LoadBalancer
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  externalTrafficPolicy: Local
  selector: {app: controller}
  ports: [{name: http, port: 80, targetPort: http}]
"""


@pytest.mark.helm
def test_ip_families_are_dropped_from_a_service_that_set_them(tmp_path: Path) -> None:
    out, _result = init_objects(tmp_path, DUAL_STACK, name="nginx")
    files = chart_files(out, tmp_path / "chart")
    service = yaml.safe_load(
        simulate_helm(
            files["templates/controller-service.yaml"], yaml.safe_load(files["values.yaml"])
        )
    )
    assert service["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    assert service["spec"]["ipFamilyPolicy"] == "PreferDualStack"
    # Read back from a cluster, the same fields are the API server's: they go.
    live = load_single(DUAL_STACK).data
    live["metadata"]["resourceVersion"] = "4711"
    live["spec"].update({"clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7", "fd00::7"]})
    cleaned = clean_object(live)
    written = load_single(DUAL_STACK).data  # as `kubectl create --dry-run -o yaml` writes it
    written["metadata"]["creationTimestamp"] = None
    written["status"] = {"loadBalancer": {}}
    assert clean_object(written).body["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    assert "ipFamilies" not in cleaned.body["spec"]
    assert "ipFamilyPolicy" not in cleaned.body["spec"]
    assert {"spec.ipFamilies", "spec.ipFamilyPolicy"} <= set(cleaned.removed)


def test_init_error_names_a_file_that_was_never_written(tmp_path: Path) -> None:
    source = tmp_path / "deploy.yaml"
    source.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: b}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec:\n  replicas: two\n  selector: {matchLabels: {app: web}}\n"
        "  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n"
    )
    with pytest.raises(InputError) as raised:
        init_objects(tmp_path, source, name="web")
    assert str(raised.value) == (
        f"{source}:10: Deployment/web spec.replicas: the input cannot become a template: "
        "web.replicaCount: 'two' is not of type 'integer' (and 1 more problem)"
    )
    assert [str(problem.location) for problem in raised.value.problems] == [
        f"{source}:10: Deployment/web spec.replicas"
    ] * 2
    assert not (tmp_path / "web.yaml").exists()


def test_the_written_template_is_mode_0600_under_umask_022(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        out, _result = init_objects(tmp_path, CRONJOB_V1BETA1.replace("batch/v1beta1", "batch/v1"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    out.chmod(0o640)  # the creator's choice survives the next init
    init_objects(tmp_path, CRONJOB_V1BETA1.replace("batch/v1beta1", "batch/v1"))
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_generated_chart_readme_copies_raw_html_from_descriptions(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)"> **bold** [site](javascript:alert(2)) a|b'
    document = {
        "apiVersion": "helmforge.dev/v1",
        "kind": "Template",
        "metadata": {"name": "web", "version": "0.1.0", "description": f"1. {hostile}"},
        "spec": {
            "kubernetesVersion": "1.31",
            "values": {"mode": {"default": "fast", "description": f"<script>x</script> {hostile}"}},
            "resources": [
                {
                    "id": "settings",
                    "manifest": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "settings"},
                        "data": {"mode": "${values.mode}"},
                    },
                }
            ],
        },
    }
    out = tmp_path / "web.yaml"
    out.write_text(dump_yaml(document))
    readme = chart_files(out, tmp_path / "chart")["README.md"]
    assert "<" not in readme  # no HTML at all: a registry renders the text, not markup
    escaped = (
        '&lt;img src=x onerror="alert(1)"&gt; \\*\\*bold\\*\\* '
        "\\[site\\](javascript:alert(2)) a\\|b"
    )
    assert f"\n1\\. {escaped}\n" in readme  # not an ordered list, no emphasis, no link
    assert f"| &lt;script&gt;x&lt;/script&gt; {escaped} |" in readme
    (row,) = [line for line in readme.splitlines() if line.startswith("| `mode`")]
    assert row.count(" | ") == 3  # the description's '|' does not add a column


@pytest.mark.helm
@pytest.mark.parametrize(
    ("kube_version", "expected"),
    [
        (None, "the newest Kubernetes helmforge knows is"),
        (">=1.25.0-0", "kubeVersion of Chart.yaml starts at 1.25"),
        (">=1.21.0-0", None),
    ],
)
def test_lint_passes_a_removed_api_version(
    tmp_path: Path, kube_version: str | None, expected: str | None
) -> None:
    chart = tmp_path / "cron"
    (chart / "templates").mkdir(parents=True)
    metadata = {"apiVersion": "v2", "name": "cron", "version": "1.0.0"}
    if kube_version:
        metadata["kubeVersion"] = kube_version
    (chart / "Chart.yaml").write_text(yaml.safe_dump(metadata))
    (chart / "values.yaml").write_text("{}\n")
    (chart / "templates" / "cron.yaml").write_text(
        "# a comment\n---\n"
        + CRONJOB_V1BETA1.replace("{name: nightly}", "{name: {{ .Release.Name }}}")
    )
    report = lint_chart(chart)
    if expected is None:
        assert report.problems == ()
        return
    (problem,) = report.problems
    assert problem.startswith(
        "templates/cron.yaml: CronJob batch/v1beta1 was removed in Kubernetes 1.25 (" + expected
    )
    assert problem.endswith("so Helm cannot install it: use apiVersion: batch/v1")
    assert not report.ok


def test_odd_selector_and_reference_shapes_do_not_crash_bootstrap() -> None:
    odd: list[dict[str, Any]] = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "m"},
            "spec": {"selector": {"matchLabels": ["a"], "matchExpressions": "x"}},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "agg", "labels": {"app.kubernetes.io/name": "x"}},
            "aggregationRule": {
                "clusterRoleSelectors": [
                    "nope",
                    {"matchLabels": "x", "matchExpressions": [1, {"key": None}]},
                    {"matchExpressions": [{"key": "app.kubernetes.io/name", "values": "x"}]},
                ]
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "b"},
            "roleRef": "agg",
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "s"},
            "spec": {"volumeClaimTemplates": "data", "template": "x"},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "v"}, "spec": {"selector": 3}},
    ]
    result = bootstrap_template(odd, name="odd", kubernetes_version="1.31")
    names = [r["manifest"]["metadata"]["name"] for r in result.document["spec"]["resources"]]
    assert names == ["m", "${ctx.name}-agg", "${ctx.name}-b", "s", "v"]


def test_two_instances_collide_on_a_literal_cluster_scoped_name_without_a_word() -> None:
    def warnings(name: str) -> list[str]:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [],
        }
        document = {
            "apiVersion": "helmforge.dev/v1",
            "kind": "Template",
            "metadata": {"name": "r", "version": "0.1.0"},
            "spec": {"kubernetesVersion": "1.31", "resources": [{"id": "role", "manifest": role}]},
        }
        template = parse_template(dump_yaml(document), source="r.yaml")
        return [str(p) for p in validate_template(template, schemas=load_schema_set("1.31"))]

    assert warnings("reader") == [
        "r.yaml:14: spec.resources[0].manifest.metadata.name: warning: ClusterRole role is "
        "cluster-scoped with the literal name 'reader': a second instance of this chart collides "
        "with it; name it ${ctx.name}-reader"
    ]
    assert warnings("${ctx.name}-reader") == []


def test_no_objects_error_hid_why_each_document_was_skipped(tmp_path: Path) -> None:
    """A kustomize base's kustomization.yaml alone answered only 'no Kubernetes objects found':
    the reason each document was skipped was printed only when something else was found."""
    kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    kustomization += "resources: [deployment.yaml]\n"
    with pytest.raises(InputError) as raised:
        init_objects(tmp_path, kustomization, "just text\n", name="base")
    assert str(raised.value) == (
        "no Kubernetes objects found in the input (--from); "
        f"{tmp_path / 'input-0.yaml'}:1: skipped: Kustomization "
        "(kustomize.config.k8s.io/v1beta1) is a tool's configuration file, not a cluster object; "
        f"{tmp_path / 'input-1.yaml'}:1: skipped: a str, not a Kubernetes object (a mapping)"
    )


ODD_LISTS = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: 80}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: 5
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec: {rules: 3, tls: 4}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: web}
webhooks: 7
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: 'nginx:1.27', env: 3, args: 4}]}
"""


def test_a_scalar_where_a_list_belongs_crashedinit_objects(tmp_path: Path) -> None:
    """`ports: 80`, `subjects: 5` and the like raised a TypeError out of template init (a
    traceback, no file or field named); the schema check names each field instead."""
    source = tmp_path / "objects.yaml"
    source.write_text(ODD_LISTS)
    with pytest.raises(InputError) as raised:
        init_objects(tmp_path, source, name="odd")
    assert str(raised.value).startswith(
        f"{source}:4: Service/web spec.ports: the input cannot become a template: "
        "Service web-service: 80 is not of type 'array', 'null'"
    )
    paths = {str(problem.location) for problem in raised.value.problems}
    assert f"{source}:10: RoleBinding/web subjects" in paths
