"""Import fidelity of references between objects: what names another object by namespace,
name, port or class still reaches it once template init moved the objects into the release
namespace and named the cluster-scoped ones per chart; each defect named by its test (found
taking public manifest sets through init, generate and a Helm render)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helmforge.core.yaml_codec import load_single
from tests.support.template_inits import chart_files, init_objects, rendered_objects

SEVERAL_NAMESPACES = """\
apiVersion: v1
kind: Namespace
metadata: {name: issuer}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: controller, namespace: issuer}
---
apiVersion: v1
kind: Service
metadata: {name: webhook, namespace: issuer}
spec: {selector: {app: controller}, ports: [{name: https, port: 443}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leader, namespace: kube-system}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader}
subjects: [{kind: ServiceAccount, name: controller, namespace: issuer}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: issuer-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
  - {kind: ServiceAccount, name: controller, namespace: issuer}
  - {kind: ServiceAccount, name: scheduler, namespace: kube-system}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: issuer-webhook
  annotations: {cert-manager.io/inject-ca-from-secret: issuer/webhook-ca}
webhooks:
  - name: validate.issuer.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: {service: {name: webhook, namespace: issuer, path: /validate}}
    rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
"""


@pytest.mark.helm
def test_references_into_a_second_source_namespace_were_left_behind(tmp_path: Path) -> None:
    """With objects from two namespaces (cert-manager's leader election Roles sit in
    kube-system), no reference followed the release namespace: RoleBinding subjects and the
    webhook's Service kept naming `issuer`, where nothing of the chart installs."""
    out, result = init_objects(tmp_path, SEVERAL_NAMESPACES, name="issuer")
    objects = rendered_objects(out, tmp_path / "chart", "elsewhere")
    assert objects[("RoleBinding", "leader")]["subjects"] == [
        {"kind": "ServiceAccount", "name": "controller", "namespace": "elsewhere"}
    ]
    # a ServiceAccount the input does not hold, in a namespace it does not create, stays put
    assert objects[("ClusterRoleBinding", "issuer-controller")]["subjects"] == [
        {"kind": "ServiceAccount", "name": "controller", "namespace": "elsewhere"},
        {"kind": "ServiceAccount", "name": "scheduler", "namespace": "kube-system"},
    ]
    webhook = objects[("ValidatingWebhookConfiguration", "issuer-webhook")]
    assert webhook["webhooks"][0]["clientConfig"]["service"] == {
        "name": "webhook",
        "namespace": "elsewhere",
        "path": "/validate",
        "port": 443,
    }
    assert not [note for note in result.notes if "still refers to" in note]
    assert (
        "namespace issuer in the references of RoleBinding/leader, "
        "ClusterRoleBinding/issuer-controller, ValidatingWebhookConfiguration/issuer-webhook "
        "follows the release namespace (${release.namespace})"
    ) in result.notes


@pytest.mark.helm
def test_cainjector_annotations_kept_naming_the_source_namespace(tmp_path: Path) -> None:
    """cert-manager's cainjector reads `cert-manager.io/inject-ca-from(-secret):
    NAMESPACE/NAME`; the Secret (written by the webhook beside itself) and the Certificate are
    in the release namespace, so the annotation must name it, or the CA is never injected."""
    single = SEVERAL_NAMESPACES.replace("namespace: kube-system", "namespace: issuer")
    single += """\
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.issuer.example.com
  annotations: {cert-manager.io/inject-ca-from: issuer/serving-cert}
spec:
  group: issuer.example.com
  version: v1
  groupPriorityMinimum: 1000
  versionPriority: 15
  service: {name: webhook, namespace: issuer}
"""
    for source in (SEVERAL_NAMESPACES, single):
        out, _result = init_objects(tmp_path, source, name="issuer")
        objects = rendered_objects(out, tmp_path / f"chart-{len(source)}", "elsewhere")
        webhook = objects[("ValidatingWebhookConfiguration", "issuer-webhook")]
        annotations = webhook["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from-secret"] == "elsewhere/webhook-ca"
    api = objects[("APIService", "v1.issuer.example.com")]
    assert api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        "elsewhere/serving-cert"
    )
    assert api["spec"]["service"] == {"name": "webhook", "namespace": "elsewhere", "port": 443}


CONVERTED_CRD = """\
apiVersion: v1
kind: Service
metadata: {name: webhook, namespace: pipelines}
spec: {selector: {app: webhook}, ports: [{port: 443}]}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: tasks.example.com}
spec:
  group: example.com
  names: {kind: Task, plural: tasks}
  scope: Namespaced
  versions:
    - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
    - {name: v1beta1, served: true, storage: false, schema: {openAPIV3Schema: {type: object}}}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig: {service: {name: webhook, namespace: pipelines, path: /convert}}
"""


def test_crd_conversion_webhook_left_in_the_source_namespace_without_a_word(
    tmp_path: Path,
) -> None:
    """A CRD goes to crds/, which Helm does not template, so its conversion webhook keeps
    naming the Service's old namespace while the Service installs into the release's
    (Tekton's CRDs): init said nothing of it."""
    out, result = init_objects(tmp_path, CONVERTED_CRD, name="pipelines")
    crd = next(
        resource["manifest"]
        for resource in load_single(out.read_bytes()).data["spec"]["resources"]
        if resource["manifest"]["kind"] == "CustomResourceDefinition"
    )
    service = crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]
    assert service["namespace"] == "pipelines"
    assert (
        "CustomResourceDefinition/tasks.example.com: its spec.conversion.webhook.clientConfig "
        "names Service pipelines/webhook, which installs into the release namespace; crds/ is "
        "not templated by Helm, so it keeps naming pipelines: install the chart into pipelines "
        "or edit that namespace in the template"
    ) in result.notes


AGGREGATED_API_SERVER = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: metrics-leader, namespace: kube-system}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: metrics-leader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: metrics-leader}
subjects: [{kind: ServiceAccount, name: metrics, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: metrics-auth-reader, namespace: kube-system}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: extension-apiserver-authentication-reader
subjects: [{kind: ServiceAccount, name: metrics, namespace: kube-system}]
"""


@pytest.mark.helm
def test_rolebinding_of_a_role_outside_the_input_moved_away_from_its_role(
    tmp_path: Path,
) -> None:
    """metrics-server binds kube-system's extension-apiserver-authentication-reader Role; moved
    into the release namespace, the binding granted nothing (that Role is only in kube-system)
    and the aggregated API server could not read its authentication ConfigMap."""
    out, result = init_objects(tmp_path, AGGREGATED_API_SERVER, name="metrics")
    for instance in ("a1", "a2"):
        objects = rendered_objects(out, tmp_path / instance, "elsewhere", instance=instance)
        reader = objects[("RoleBinding", f"shop-acme-dev-{instance}-metrics-auth-reader")]
        assert reader["metadata"]["namespace"] == "kube-system"
        assert reader["subjects"] == [
            {"kind": "ServiceAccount", "name": "metrics", "namespace": "elsewhere"}
        ]
        # a binding of an imported Role moves with it
        assert "namespace" not in objects[("RoleBinding", "metrics-leader")]["metadata"]
    assert (
        "RoleBinding/metrics-auth-reader: stays in namespace kube-system, named "
        "${ctx.name}-metrics-auth-reader: it binds Role "
        "kube-system/extension-apiserver-authentication-reader, which is not among the "
        "imported objects and grants nothing in another namespace"
    ) in result.notes


SELF_MANAGED_WEBHOOK = """\
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: validation.example.dev}
webhooks:
  - name: validation.example.dev
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: {service: {name: webhook, namespace: pipelines}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pipelines-view}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pipelines-webhook}
rules:
  - apiGroups: [admissionregistration.k8s.io]
    resources: [validatingwebhookconfigurations]
    resourceNames: [validation.example.dev, not-ours.example.dev]
    verbs: [get, update]
  - apiGroups: ["*"]
    resources: [clusterroles/status]
    resourceNames: [pipelines-view]
    verbs: [get]
  - apiGroups: [""]
    resources: [configmaps]
    resourceNames: [pipelines-view]
    verbs: [get]
"""


@pytest.mark.helm
def test_rbac_resource_names_kept_the_old_name_of_a_renamed_object(tmp_path: Path) -> None:
    """Cluster-scoped objects are named per chart, but a rule's resourceNames kept the old
    name: Tekton's webhook may get and update only its own webhook configurations, so after
    the rename it could update none of them (their CA bundle never set)."""
    out, result = init_objects(tmp_path, SELF_MANAGED_WEBHOOK, name="pipelines")
    objects = rendered_objects(out, tmp_path / "chart", "elsewhere")
    rules = objects[("ClusterRole", "pipelines-webhook")]["rules"]
    assert rules[0]["resourceNames"] == [
        "shop-acme-dev-a1-validation.example.dev",
        "not-ours.example.dev",
    ]
    assert rules[1]["resourceNames"] == ["shop-acme-dev-a1-pipelines-view"]
    assert rules[2]["resourceNames"] == ["pipelines-view"]  # a ConfigMap: not renamed
    assert ("ValidatingWebhookConfiguration", "validation.example.dev") in objects
    assert (
        "ClusterRole/pipelines-webhook: rules[0].resourceNames follows "
        "ValidatingWebhookConfiguration/validation.example.dev"
    ) in result.notes


CALLED_BY_PORT = """\
apiVersion: v1
kind: Service
metadata: {name: api, namespace: metrics}
spec: {selector: {app: api}, ports: [{name: https, port: 443, targetPort: https}]}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.example.com}
spec:
  group: metrics.example.com
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: api, namespace: metrics}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: metrics-defaults}
webhooks:
  - name: defaults.metrics.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: {service: {name: api, namespace: metrics, port: 443, path: /mutate}}
  - name: elsewhere.metrics.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: {service: {name: api, namespace: other, port: 443}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: api, namespace: metrics}
spec:
  defaultBackend: {service: {name: api, port: {number: 443}}}
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: api, port: {number: 443}}}}
          - {path: /x, pathType: Prefix, backend: {service: {name: api, port: {name: https}}}}
"""


@pytest.mark.helm
def test_callers_of_a_service_stayed_on_its_old_port_after_an_override(tmp_path: Path) -> None:
    """init made the Service's port a parameter, but the APIService (443 when absent), the
    webhooks and the Ingress backends kept the number: overriding metricsServer's
    service.port left them calling a port nobody listens on."""
    from helmforge.adapters import helm_render

    out, result = init_objects(tmp_path, CALLED_BY_PORT, name="metrics")
    chart_files(out, tmp_path / "chart")
    manifest = helm_render.render_chart(
        tmp_path / "chart" / "shop-acme-dev-a1",
        {"api": {"service": {"port": 8443}}},
        release_name="shop-acme-dev-a1",
        namespace="elsewhere",
    )
    objects = {o["kind"]: o for o in yaml.safe_load_all(manifest) if o}
    assert objects["Service"]["spec"]["ports"][0]["port"] == 8443
    assert objects["APIService"]["spec"]["service"] == {
        "name": "api",
        "namespace": "elsewhere",
        "port": 8443,
    }
    webhooks = objects["MutatingWebhookConfiguration"]["webhooks"]
    assert webhooks[0]["clientConfig"]["service"]["port"] == 8443
    assert webhooks[1]["clientConfig"]["service"] == {
        "name": "api",
        "namespace": "other",
        "port": 443,
    }  # another namespace's Service
    ingress = objects["Ingress"]["spec"]
    assert ingress["defaultBackend"]["service"]["port"] == {"number": 8443}
    paths = ingress["rules"][0]["http"]["paths"]
    assert [path["backend"]["service"]["port"] for path in paths] == [
        {"number": 8443},
        {"name": "https"},
    ]
    assert (
        "APIService/v1beta1.metrics.example.com: spec.service.port follows Service/api's port"
    ) in result.notes


OWN_NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: pipelines
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: v1
kind: Namespace
metadata: {name: pipeline-runs}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: controller, namespace: pipelines}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pipelines-controller}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: controller, namespace: pipelines}]
"""


@pytest.mark.helm
def test_namespace_the_objects_came_from_stayed_in_the_chart_empty(tmp_path: Path) -> None:
    """Tekton's, cert-manager's and local-path's manifests create their namespace; init kept
    that Namespace while moving everything in it to the release namespace, so the chart made
    an empty namespace, a second instance failed on the same fixed name, and an install into
    that very namespace (helm install -n pipelines --create-namespace) found it existing."""
    out, result = init_objects(tmp_path, OWN_NAMESPACE, name="pipelines")
    kinds = [
        (resource["manifest"]["kind"], resource["manifest"]["metadata"]["name"])
        for resource in load_single(out.read_bytes()).data["spec"]["resources"]
    ]
    assert ("Namespace", "pipelines") not in kinds
    assert ("Namespace", "pipeline-runs") in kinds  # nothing came from it: the chart makes it
    objects = rendered_objects(out, tmp_path / "chart", "pipelines")
    assert ("Namespace", "pipelines") not in objects
    binding = objects[("ClusterRoleBinding", "pipelines-controller")]
    assert binding["subjects"][0]["namespace"] == "pipelines"
    assert (
        "Namespace/pipelines: left out, its objects install into the release namespace; its "
        "labels (pod-security.kubernetes.io/enforce=restricted) belong on the release namespace"
    ) in result.notes


LEADER_ELSEWHERE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leader, namespace: kube-system}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: issuer}
spec:
  selector: {matchLabels: {app: controller}}
  template:
    metadata: {labels: {app: controller}}
    spec:
      containers:
        - name: controller
          image: 'example.com/controller:1.0'
          args: [--leader-election-namespace=kube-system, --webhook=hook.issuer.svc:443, issuer]
          env:
            - {name: LEASE_NAMESPACE, value: kube-system}
            - {name: APP_NAME, value: issuer}
"""


def test_arguments_naming_a_moved_namespace_went_unmentioned(tmp_path: Path) -> None:
    """cert-manager's controllers take leader election in kube-system
    (--leader-election-namespace=kube-system) while the Roles allowing it moved from there to
    the release namespace: init rewrote the objects and said nothing of the arguments."""
    _out, result = init_objects(tmp_path, LEADER_ELSEWHERE, name="issuer")
    label = "container controller of Deployment controller"
    follows = (
        "whose objects now install into the release namespace (${release.namespace} follows it)"
    )
    assert [note for note in result.notes if "names namespace" in note] == [
        f"{label}: '--leader-election-namespace=kube-system' names namespace kube-system, "
        + follows,
        f"{label}: '--webhook=hook.issuer.svc:443' names namespace issuer, {follows}",
        f"{label}: 'kube-system' names namespace kube-system, {follows}",
    ]


CLASSES_IN_A_CUSTOM_RESOURCE = """\
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: ssd}
provisioner: ebs.csi.aws.com
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: monitoring-critical}
value: 100000
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: persisted}
spec:
  priorityClassName: monitoring-critical
  storage:
    volumeClaimTemplate:
      spec:
        storageClassName: ssd
        resources: {requests: {storage: 40Gi}}
  additional: [{storageClassName: gp3}]
"""


@pytest.mark.helm
def test_class_names_in_a_custom_resource_kept_the_old_name(tmp_path: Path) -> None:
    """The StorageClass became ${ctx.name}-ssd but prometheus-operator's example Prometheus
    kept spec.storage.volumeClaimTemplate.spec.storageClassName: ssd, so its volume claim
    asked for a class that does not exist; only built-in kinds' fields followed."""
    out, result = init_objects(tmp_path, CLASSES_IN_A_CUSTOM_RESOURCE, name="monitoring")
    objects = rendered_objects(out, tmp_path / "chart", "elsewhere")
    spec = objects[("Prometheus", "persisted")]["spec"]
    assert spec["priorityClassName"] == "shop-acme-dev-a1-monitoring-critical"
    assert spec["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == (
        "shop-acme-dev-a1-ssd"
    )
    assert spec["additional"] == [{"storageClassName": "gp3"}]  # not imported: unchanged
    assert ("StorageClass", "ssd") in objects
    assert (
        "Prometheus/persisted: spec.storage.volumeClaimTemplate.spec.storageClassName follows "
        "StorageClass/ssd"
    ) in result.notes


CUSTOM_REFERENCES = """\
apiVersion: traefik.io/v1alpha1
kind: TLSOption
metadata: {name: modern, namespace: edge}
spec: {minVersion: VersionTLS13}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: web, namespace: edge}
spec:
  entryPoints: [websecure]
  routes:
    - match: Host(`shop.example.com`)
      kind: Rule
      services:
        - {name: web, port: 80, namespace: edge}
        - {name: api, port: 80, namespace: backend}
  tls:
    options: {name: modern, namespace: edge}
"""


@pytest.mark.helm
def test_namespaces_named_inside_custom_resources_were_left_behind(tmp_path: Path) -> None:
    """Traefik's example IngressRoutes name their TLSOption and services as
    {name, namespace: default}; the objects moved to the release namespace and the routes
    kept pointing at default. Another namespace's service stays where it is."""
    out, result = init_objects(tmp_path, CUSTOM_REFERENCES, name="edge")
    objects = rendered_objects(out, tmp_path / "chart", "elsewhere")
    spec = objects[("IngressRoute", "web")]["spec"]
    assert spec["tls"]["options"] == {"name": "modern", "namespace": "elsewhere"}
    assert spec["routes"][0]["services"] == [
        {"name": "web", "port": 80, "namespace": "elsewhere"},
        {"name": "api", "port": 80, "namespace": "backend"},
    ]
    assert (
        "namespace edge in the references of IngressRoute/web follows the release namespace "
        "(${release.namespace})"
    ) in result.notes
