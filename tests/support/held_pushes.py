"""A Git remote whose pre-receive hook holds the first push, so that the edits of one
repository started meanwhile queue behind it (the group commit), and what the remote then
holds: ``HeldPush``, ``until`` (a condition, polled within ``UPPER_BOUND``), ``commit_log``."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.support.git_servers import git, install_hook
from tests.support.instances import GitLab
from tests.support.servers import UPPER_BOUND

_POLL = 0.01  # between two looks at a condition; no outcome depends on it


def until(condition: Any, what: str) -> None:
    bound = time.monotonic() + UPPER_BOUND
    while not condition():
        assert time.monotonic() < bound, f"{what} did not happen within {UPPER_BOUND:.0f} s"
        time.sleep(_POLL)


class HeldPush:
    """A pre-receive hook that holds the first push until ``release`` (then accepts it) and
    answers every later push with ``later`` (``exit 0`` accepts)."""

    def __init__(self, lab: GitLab, folder: Path, later: str) -> None:
        self.fifo = folder / "hold.fifo"
        os.mkfifo(self.fifo)
        marker = folder / "held"
        install_hook(
            lab.remote,
            "pre-receive",
            f"if [ ! -e '{marker}' ]; then touch '{marker}'; read line < '{self.fifo}'; "
            f"exit 0; fi\n{later}\n",
        )
        self.descriptor: int | None = None

    def wait_held(self) -> None:
        """Return once the first push is inside the hook (it opened the FIFO to read)."""

        def opened() -> bool:
            try:
                self.descriptor = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                return False
            return True

        until(opened, "the first push reaching the hook")

    def release(self) -> None:
        assert self.descriptor is not None
        os.write(self.descriptor, b"go\n")
        os.close(self.descriptor)


def commit_log(lab: GitLab, since: str) -> list[tuple[str, str, str]]:
    """(commit, author name, subject line of the body) of each commit after ``since``, oldest
    first."""
    text = git("-C", str(lab.remote), "log", "--reverse", "--format=%H%x00%an%x00%b%x1e",
               f"{since}..main")  # fmt: skip
    rows = []
    for record in filter(str.strip, text.split("\x1e")):
        commit, author, body = record.strip().split("\x00")
        rows.append((commit, author, body.strip()))
    return rows
