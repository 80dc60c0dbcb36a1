"""Template sources of ``generate``: file or NAME[@VERSION], version choice, the local store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import ConflictError, InputError, NotFoundError
from helmforge.core.templates.parsing import parse_template
from helmforge.services import template_store
from helmforge.services.settings import load_settings
from helmforge.services.stores import open_store
from helmforge.services.template_sources import (
    TemplateReference,
    choose_version,
    classify_template_argument,
    load_from_local_store,
    parse_template_reference,
)
from tests.support.charts import example_text


def test_an_existing_path_wins_over_a_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "web-service").write_text("x")
    assert classify_template_argument("web-service") == Path("web-service")
    assert classify_template_argument("other") == TemplateReference("other")
    assert classify_template_argument("web@1.2.0") == TemplateReference("web", "1.2.0")


@pytest.mark.parametrize("text", ["missing.yaml", "dir/web", "missing.YML", "t.json", ""])
def test_a_missing_path_like_text_is_a_missing_file(text: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        classify_template_argument(str(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Web", "name 'Web' is not a DNS-1123 label"),
        ("web_service", "not a DNS-1123 label"),
        ("@1.0.0", "name before '@' is empty"),
        ("web@", "version after '@' is empty"),
        ("web@1.0", "version '1.0' is not a SemVer"),
        ("web@1.0.0@2", "is not a SemVer"),
    ],
)
def test_bad_references_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_template_reference(text)


VERSIONS = {
    "1.9.0": "published",
    "1.10.0": "published",
    "1.10.1-rc.1": "published",
    "1.11.0": "draft",
    "1.0.0": "deprecated",
}


def test_the_newest_published_version_is_chosen_by_semver() -> None:
    assert choose_version(TemplateReference("web"), VERSIONS) == ("1.10.1-rc.1", None)
    released = {k: v for k, v in VERSIONS.items() if "rc" not in k}
    assert choose_version(TemplateReference("web"), released) == ("1.10.0", None)
    assert choose_version(TemplateReference("web", "1.9.0"), VERSIONS) == ("1.9.0", None)


def test_a_draft_is_refused_and_unknown_versions_list_the_published_ones() -> None:
    with pytest.raises(ConflictError, match=r"web@1.11.0 is a draft.*1.9.0, 1.10.0, 1.10.1-rc.1"):
        choose_version(TemplateReference("web", "1.11.0"), VERSIONS)
    with pytest.raises(NotFoundError, match=r"web@2.0.0 does not exist.*1.9.0, 1.10.0"):
        choose_version(TemplateReference("web", "2.0.0"), VERSIONS)
    with pytest.raises(NotFoundError, match=r"no published version.*: none"):
        choose_version(TemplateReference("web"), {"1.0.0": "draft", "0.9.0": "deprecated"})


def test_a_deprecated_version_is_used_only_when_named_with_a_warning() -> None:
    version, warning = choose_version(TemplateReference("web", "1.0.0"), VERSIONS)
    assert version == "1.0.0"
    assert warning == "template web@1.0.0 is deprecated; the newest published is 1.10.1-rc.1"


def _seed(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELMFORGE_DATABASE_URL", database_url)

    store = open_store(load_settings(os.environ))
    try:
        for version, status in (("1.2.0", "published"), ("1.3.0", "published"), ("1.4.0", "")):
            template_store.create_version(
                store.sessions, example_text(version=version), actor=SYSTEM
            )
            if status:
                template_store.publish_version(store.sessions, "web-service", version, actor=SYSTEM)
        template_store.deprecate_version(store.sessions, "web-service", "1.2.0", actor=SYSTEM)
    finally:
        store.engine.dispose()


def test_the_local_store_gives_the_newest_published_template(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    _seed(database_url, monkeypatch)
    resolved = load_from_local_store(TemplateReference("web-service"), environ=os.environ)
    assert (resolved.version, resolved.warning) == ("1.3.0", None)
    expected = parse_template(example_text(version="1.3.0"), source="x")
    assert (resolved.template.name, resolved.template.version) == ("web-service", "1.3.0")
    assert resolved.template.raw == expected.raw
    old = load_from_local_store(TemplateReference("web-service", "1.2.0"), environ=os.environ)
    assert old.warning is not None
    assert "deprecated" in old.warning
    with pytest.raises(ConflictError, match=r"1.4.0 is a draft.*web-service: 1.3.0"):
        load_from_local_store(TemplateReference("web-service", "1.4.0"), environ=os.environ)
    with pytest.raises(NotFoundError, match=r"nope does not exist.*web-service@1.3.0"):
        load_from_local_store(TemplateReference("nope"), environ=os.environ)


def test_no_local_store_is_reported_without_creating_one(tmp_path: Path) -> None:
    environ = {"HELMFORGE_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(NotFoundError, match="no local template store"):
        load_from_local_store(TemplateReference("web-service"), environ=environ)
    assert not (tmp_path / "data").exists()
