"""Kubernetes objects as they are imported.

- ``reading``: objects out of YAML or JSON streams (``read_manifests``), identity, content hashes,
  the line of each field (``ManifestObject.field_line``).
- ``cleaning``: server-side noise removed (``clean_object``), Secret values redacted.
- ``rendered``: the objects of a manifest Helm rendered, one text each (``objects_of_manifest``).
- ``selectors``: label selectors parsed once and matched (``parse_label_selector``).
"""
