"""The template store under concurrency: one of many simultaneous edits wins, the others get
the current state; published versions never change."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import SYSTEM
from helmforge.core.errors import ConflictError, InputError
from helmforge.services import template_store
from helmforge.services.template_store import StaleRevisionError
from tests.support.charts import EXAMPLE

WRITERS = 6


def _text(description: str) -> str:
    return EXAMPLE.read_text("utf-8").replace(
        "description: Pods to run", f"description: {description}", 1
    )


def test_simultaneous_edits_of_one_revision_let_exactly_one_win(
    sessions: sessionmaker[Session],
) -> None:
    template_store.create_version(sessions, _text("original"), actor=SYSTEM)
    barrier = threading.Barrier(WRITERS)
    saved: list[str] = []
    stale: list[StaleRevisionError] = []

    def edit(index: int) -> None:
        text = _text(f"writer {index}")
        barrier.wait()
        try:
            template_store.update_draft(
                sessions, "web-service", "1.2.0", text, expected_revision=1, actor=SYSTEM
            )
            saved.append(text)
        except StaleRevisionError as error:
            stale.append(error)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(saved) == 1
    assert len(stale) == WRITERS - 1
    current = template_store.get_version(sessions, "web-service", "1.2.0", actor=SYSTEM)
    assert current.revision == 2
    assert current.content == saved[0]
    assert all(error.current.revision == 2 for error in stale)
    with sessions() as session:
        updates = session.execute(
            sa.text("SELECT count(*) FROM audit_events WHERE action = 'template.update'")
        ).scalar_one()
    assert updates == 1


def test_publish_racing_an_edit_never_changes_the_published_text(
    sessions: sessionmaker[Session],
) -> None:
    template_store.create_version(sessions, _text("original"), actor=SYSTEM)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def publish() -> None:
        barrier.wait()
        template_store.publish_version(sessions, "web-service", "1.2.0", actor=SYSTEM)
        outcomes.append("published")

    def edit() -> None:
        barrier.wait()
        try:
            template_store.update_draft(
                sessions, "web-service", "1.2.0", _text("late"), expected_revision=1, actor=SYSTEM
            )
            outcomes.append("edited")
        except ConflictError:
            outcomes.append("refused")

    threads = [threading.Thread(target=publish), threading.Thread(target=edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    current = template_store.get_version(sessions, "web-service", "1.2.0", actor=SYSTEM)
    assert current.status == "published"
    expected = _text("late") if "edited" in outcomes else _text("original")
    assert current.content == expected
    with pytest.raises(
        ConflictError,
        match=r"^template web-service@1\.2\.0 is published: a published version never changes",
    ):
        template_store.update_draft(
            sessions,
            "web-service",
            "1.2.0",
            _text("after"),
            expected_revision=current.revision,
            actor=SYSTEM,
        )


def test_check_template_text_never_raises_for_bad_input() -> None:
    for text in ("", "a: [", "- 1\n- 2\n", "\x00", "apiVersion: helmforge.dev/v1\n" * 2):
        problems = template_store.check_template_text(text)
        assert problems, text
        assert all(problem.severity == "error" for problem in problems)


def test_references_are_checked() -> None:
    assert template_store.parse_reference("web@1.2.0") == ("web", "1.2.0")
    assert template_store.parse_reference("web") == ("web", None)
    for bad in ("", "@1", "web@", "Web@1", "a@b@c", "web@\x00", "web@../x"):
        with pytest.raises(
            InputError,
            match=rf"^template reference {re.escape(repr(bad))} must be NAME or NAME@VERSION ",
        ):
            template_store.parse_reference(bad)


def test_prerelease_sorts_below_its_release_in_the_template_store(
    sessions: sessionmaker[Session],
) -> None:
    # Defect: the store's sort key dropped pre-releases, so 1.2.0-rc.1 stored after 1.2.0
    # tied with it and won as the "newest published" version.
    for version in ("1.2.0", "1.2.0-rc.1", "1.2.0-rc.1+build.2", "1.2.0-beta", "1.1.0"):
        text = EXAMPLE.read_text("utf-8").replace("version: 1.2.0", f"version: {version}", 1)
        template_store.create_version(sessions, text, actor=SYSTEM)
        template_store.publish_version(sessions, "web-service", version, actor=SYSTEM)
    listed = [
        v.version for v in template_store.list_versions(sessions, "web-service", actor=SYSTEM)
    ]
    assert listed == ["1.1.0", "1.2.0-beta", "1.2.0-rc.1", "1.2.0-rc.1+build.2", "1.2.0"]
    (summary,) = template_store.list_templates(sessions, actor=SYSTEM)
    assert [version for version, _ in summary.versions] == listed
    newest, _ = template_store.load_published(sessions, "web-service", actor=SYSTEM)
    assert newest.version == "1.2.0"
