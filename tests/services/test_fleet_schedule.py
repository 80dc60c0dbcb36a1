"""The scheduled verification of the fleet (``HELMFORGE_VERIFY_INTERVAL``), on SQLite and
PostgreSQL, with the clock handed in: due when no whole-fleet verification was queued within
the interval; a filtered or a cancelled one does not count; off with 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import SYSTEM
from helmforge.services import fleet_verification, jobs
from helmforge.services.fleet_verification import schedule_if_due

HOUR = 3600.0


def test_a_verification_is_queued_once_per_interval(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC)
    assert schedule_if_due(sessions, now=now, interval=0) is None
    first = schedule_if_due(sessions, now=now, interval=HOUR)
    assert first is not None
    assert (first.kind, first.state, first.created_by) == ("fleet.verify", "queued", "helmforge")
    assert schedule_if_due(sessions, now=now + timedelta(minutes=59), interval=HOUR) is None

    later = now + timedelta(seconds=HOUR + 1)
    fleet_verification.submit_verification(
        sessions, actor=SYSTEM, filter={"environment": "dev"}, now=later
    )
    second = schedule_if_due(sessions, now=later, interval=HOUR)
    assert second is not None  # a filtered verification is not the whole fleet's
    assert schedule_if_due(sessions, now=later, interval=HOUR) is None

    jobs.cancel(sessions, second.id, actor=SYSTEM)
    third = schedule_if_due(sessions, now=later, interval=HOUR)
    assert third is not None  # a cancelled one leaves the fleet unverified
