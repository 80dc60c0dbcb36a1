"""Kubernetes objects as they are imported.

- ``reading``: objects out of YAML or JSON streams (``read_manifests``), identity, content hashes.
- ``cleaning``: server-side noise removed (``clean_object``), Secret values redacted.
- ``selectors``: label selectors parsed once and matched (``parse_label_selector``).
"""
