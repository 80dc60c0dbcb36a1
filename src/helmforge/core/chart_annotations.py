"""Chart.yaml annotations helmforge writes and reads back.

A module of its own so that the chart writer (``core/chart_files.py``) need not import the OCI
model (``core/oci.py``, which re-exports the name) at every cold start.
"""

from __future__ import annotations

__all__ = ["CONTENT_DIGEST_ANNOTATION"]

CONTENT_DIGEST_ANNOTATION = "helmforge.dev/content-digest"
"""Chart.yaml annotation with the digest of the chart's content without its version: the
``auto`` policy compares it to tell "same content" from "changed" across versions."""
