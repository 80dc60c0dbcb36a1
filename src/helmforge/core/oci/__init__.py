"""Helm charts in OCI registries (pure: the adapter sends what these build).

- ``references``: ``oci://HOST[:PORT]/PATH``, repositories, ``Registry``, auth challenges.
- ``artifacts``: a chart archive's metadata, config blob, manifest and digests (``build_artifact``).
- ``chart_versions``: tags for versions and the ``app``/``auto``/``explicit`` version policies.
"""
