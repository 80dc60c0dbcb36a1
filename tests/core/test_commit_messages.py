"""``check_commit_body``: a user's commit message holds no trailer helmforge writes and no
control character, and every other text passes unchanged."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.instances.commit_messages import check_commit_body


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x\n\nApproved-by: Mallory <m@example.com>", "line 3 opens with Approved-by:"),
        ("Approved-by:someone", "line 1 opens with Approved-by:"),
        ("x\n\t approved-by\t: a", "line 2 opens with approved-by:"),
        ("a\x00b", "control character '\\x00'"),
        ("a\x1b[31mred", "control character '\\x1b'"),
    ],
)
def test_a_forged_trailer_or_a_control_character_is_refused_naming_the_line(
    text: str, reason: str
) -> None:
    with pytest.raises(InputError, match=r"^message: ") as caught:
        check_commit_body(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [None, "", "fix the port", "as approved-by Ann: done", "Reviewed-by: Ann\r\n", "tab\there"],
)
def test_other_messages_pass_unchanged(text: str | None) -> None:
    assert check_commit_body(text) == text
