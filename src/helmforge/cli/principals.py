"""Who acts in a local command: the operator's login, or ``HELMFORGE_ACTOR`` when set."""

from __future__ import annotations

__all__ = ["local_principal"]

import getpass
import os

from helmforge.core.access.principals import Principal, local_operator


def local_principal() -> Principal:
    """The principal of whoever runs this command: ``HELMFORGE_ACTOR``, else the login name,
    else ``cli`` (a process without a user name, e.g. in a bare container)."""
    try:
        name = os.environ.get("HELMFORGE_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        name = "cli"
    return local_operator(name)
