from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.manifests.cleaning import clean_object, is_generated_child


def _live_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "1234",
            "resourceVersion": "99",
            "generation": 3,
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "deployment.kubernetes.io/revision": "3",
                "meta.helm.sh/release-name": "web",
                "team": "a",
            },
            "labels": {
                "app": "web",
                "app.kubernetes.io/managed-by": "Helm",
                "helm.sh/chart": "x-1",
            },
        },
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
                "spec": {
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.27",
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                                "timeoutSeconds": 1,
                                "periodSeconds": 5,
                            },
                        },
                        {
                            "name": "side",
                            "image": "busybox:latest",
                            "imagePullPolicy": "IfNotPresent",
                        },
                    ],
                },
            },
        },
        "status": {"replicas": 2},
    }


def test_a_live_deployment_is_cleaned_to_what_an_author_wrote() -> None:
    live = _live_deployment()
    before = copy.deepcopy(live)
    cleaned = clean_object(live)
    assert live == before, "the input must not change"
    assert cleaned.body == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "annotations": {"team": "a"},
            "labels": {"app": "web"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": 80},
                                "periodSeconds": 5,
                            },
                        },
                        # IfNotPresent is not the default for :latest, so it stays.
                        {
                            "name": "side",
                            "image": "busybox:latest",
                            "imagePullPolicy": "IfNotPresent",
                        },
                    ]
                },
            },
        },
    }
    assert "status" in cleaned.removed
    assert "spec.template.spec.containers[0].imagePullPolicy" in cleaned.removed


def test_service_allocations_are_removed_but_headless_stays() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.0.0.12",
            "clusterIPs": ["10.0.0.12"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31000}],
        },
    }
    assert clean_object(service).body["spec"] == {
        "type": "ClusterIP",
        "ports": [{"port": 80, "targetPort": 8080}],
    }
    headless = copy.deepcopy(service)
    headless["spec"]["clusterIP"] = "None"
    assert clean_object(headless).body["spec"]["clusterIP"] == "None"
    node_port = copy.deepcopy(service)
    node_port["spec"]["type"] = "NodePort"
    assert clean_object(node_port).body["spec"]["ports"][0]["nodePort"] == 31000


def test_generated_children_are_recognised_and_lose_owner_references() -> None:
    child = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-abc",
            "ownerReferences": [{"kind": "Deployment", "controller": True}],
        },
    }
    assert is_generated_child(child)
    assert "ownerReferences" not in clean_object(child).body["metadata"]
    assert not is_generated_child({"metadata": {"name": "x"}})


def test_job_restart_policy_and_cronjob_defaults() -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {
            "schedule": "0 * * * *",
            "concurrencyPolicy": "Allow",
            "successfulJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "dnsPolicy": "ClusterFirst",
                            "containers": [],
                        }
                    }
                }
            },
        },
    }
    body = clean_object(cron).body
    assert body["spec"] == {
        "schedule": "0 * * * *",
        "jobTemplate": {
            "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": []}}}
        },
    }


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["spec", "metadata", "status", "labels", "ports", "type", "template", "x", "uid"]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@given(
    kind=st.sampled_from(["Deployment", "Service", "CronJob", "Secret", "Widget"]),
    body=st.dictionaries(st.sampled_from(["spec", "metadata", "status", "data"]), _trees),
)
def test_cleaning_is_idempotent_and_leaves_its_input_alone(kind: str, body: dict[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": kind, **body}
    before = copy.deepcopy(document)
    once = clean_object(document).body
    assert document == before
    assert clean_object(once).body == once
    assert "status" not in once


def test_service_with_ports_not_a_list_is_left_alone() -> None:
    # regression: a Service whose spec.ports is a scalar crashed the node-port cleaning
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "a"},
        "spec": {"ports": True},
    }
    assert clean_object(body).body["spec"] == {"ports": True}
