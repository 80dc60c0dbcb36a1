"""What a user's text may be in a commit message helmforge writes.

The caller's message becomes the commit's body, above the ``Approved-by:`` trailers helmforge
adds for the approvers of a change request (DESIGN §9). A body holding such a line itself
would read, to ``git interpret-trailers`` and to anyone reviewing the history, as an approval
nobody gave; a NUL ends the message early for Git's C tools and is refused by PostgreSQL in
the records that keep it. ``check_commit_body`` refuses both, naming the line.
"""

from __future__ import annotations

__all__ = ["TRAILERS", "check_commit_body"]

import re

from helmforge.core.errors import InputError, Location

#: The trailers helmforge writes itself; Git compares trailer keys without regard to case.
TRAILERS = ("Approved-by",)
_TRAILER = re.compile(
    r"^[ \t]*(" + "|".join(re.escape(key) for key in TRAILERS) + r")[ \t]*:", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_commit_body(text: str | None, *, source: str = "message") -> str | None:
    """``text`` when it may be a commit body, else ``InputError`` naming ``source`` and the
    line: a control character other than a tab or a line end, or a line opening with a
    trailer helmforge writes (``Approved-by:``)."""
    if not text:
        return text
    for number, line in enumerate(text.splitlines(), 1):
        control = _CONTROL.search(line)
        if control is not None:
            raise InputError(
                f"line {number} holds the control character {control.group()!r}; a commit "
                "message is text (tabs and line ends are fine)",
                location=Location(path=source),
            )
        trailer = _TRAILER.match(line)
        if trailer is not None:
            raise InputError(
                f"line {number} opens with {trailer.group(1)}:, the trailer helmforge writes "
                "for the approvers of a change request; write it otherwise (e.g. without the "
                "colon)",
                location=Location(path=source),
            )
    return text
