"""Moving a template text's metadata.version without touching the rest of the text."""

from __future__ import annotations

import pytest

from helmforge.core.templates.versioning import with_metadata_version


def test_only_the_metadata_version_line_changes() -> None:
    text = (
        "# keep me\napiVersion: helmforge.dev/v1\nmetadata:\n  name: x\n  labels:\n"
        "    version: keep\n  version: '0.2.0'  # the version\nspec:\n  version: keep\n"
    )
    moved = with_metadata_version(text, "0.2.1")
    assert moved == text.replace("'0.2.0'", "'0.2.1'")


@pytest.mark.parametrize(
    "text",
    [
        "metadata: {name: x, version: 1.0.0}\n",
        "spec:\n  version: 1.0.0\n",
        "metadata:\n  name: x\n",
    ],
)
def test_texts_without_a_version_line_in_metadata_are_left_alone(text: str) -> None:
    assert with_metadata_version(text, "2.0.0") is None
