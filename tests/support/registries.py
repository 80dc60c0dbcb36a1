"""A registry record in helmforge's store for service tests: ``lab``, the robot account, plain
HTTP, at a repository path no other test uses."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from helmforge.adapters.secrets import new_key
from helmforge.core.access.principals import SYSTEM
from helmforge.core.secrets import Secret
from helmforge.services import registries
from tests.support.registry import CANARY_PASSWORD, ROBOT, unique_path


def create_lab_registry(sessions: sessionmaker[Session], authority: str) -> bytes:
    """Record registry ``lab`` at ``oci://AUTHORITY/<fresh path>``; returns the key that
    encrypts its password."""
    key = new_key()
    registries.create_registry(
        sessions,
        name="lab",
        url=f"oci://{authority}/{unique_path()}",
        key=key,
        actor=SYSTEM,
        username=ROBOT,
        password=Secret(CANARY_PASSWORD),
        plain_http=True,
    )
    return key
