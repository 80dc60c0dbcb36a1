"""The objects of a manifest Helm rendered, one text per object (``objects_of_manifest``)."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.manifests.rendered import objects_of_manifest

MANIFEST = """\
---
# Source: web/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: team-a
data:
  a: "1"

---
# Source: web/templates/empty.yaml
---
# Source: web/templates/role.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
---
# Source: web/templates/config-again.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: team-a
"""


def test_each_object_keeps_helms_text_under_kind_namespace_and_name() -> None:
    objects = objects_of_manifest(MANIFEST)
    assert list(objects) == [
        "ConfigMap/team-a/web-config",
        "ClusterRole/reader",
        "ConfigMap/team-a/web-config#2",
    ]
    assert objects["ConfigMap/team-a/web-config"] == (
        "# Source: web/templates/config.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        '  name: web-config\n  namespace: team-a\ndata:\n  a: "1"\n'
    )
    assert objects["ClusterRole/reader"].startswith("# Source: web/templates/role.yaml\n")


def test_an_empty_manifest_has_no_objects() -> None:
    assert objects_of_manifest("") == {}
    assert objects_of_manifest("---\n# Source: web/templates/off.yaml\n\n") == {}


def test_a_document_that_is_not_yaml_is_named_by_its_template() -> None:
    with pytest.raises(InputError) as raised:
        objects_of_manifest("---\n# Source: web/templates/bad.yaml\nkind: [\n")
    assert raised.value.location is not None
    assert raised.value.location.source == "web/templates/bad.yaml"
