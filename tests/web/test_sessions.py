"""The web UI's CSRF comparison."""

from __future__ import annotations

from helmforge.web.sessions import check_csrf


def test_csrf_tokens_compare_exactly() -> None:
    assert check_csrf("abc", "abc")
    assert not check_csrf("abc", "abd")
    assert not check_csrf("abc", "")
    assert not check_csrf(None, "abc")
    assert not check_csrf("abc", None)
