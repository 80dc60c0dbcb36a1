"""The numbers helmforge accepts, whichever way they arrive (JSON, YAML, form fields).

Values end up in a chart's values.yaml, read by Helm's Go YAML: a NaN or an infinity
(``.nan``, ``Infinity``, ``1.5e+99999``) makes the chart unloadable, so they are refused where
they enter. Integers are bounded in digits: far above any int64 or float64 Helm could hold, and
far below Python's own limit on converting digits (4,300), past which ``int()`` raises instead
of answering.
"""

from __future__ import annotations

__all__ = ["MAX_INTEGER_DIGITS", "parse_finite_float", "parse_integer"]

import math

from helmforge.core.errors import InputError, Location

MAX_INTEGER_DIGITS = 100


def parse_integer(text: str, *, base: int = 10, location: Location | None = None) -> int:
    """The integer written as ``text`` (``base`` as for ``int``; 0 reads ``0x``/``0o``/``0b``).

    Raises ``InputError`` at ``location`` for more than ``MAX_INTEGER_DIGITS`` digits or text
    that is not an integer.
    """
    digits = len(text.strip().lstrip("+-"))
    if digits > MAX_INTEGER_DIGITS:
        raise InputError(
            f"an integer of {digits} digits is too long (at most {MAX_INTEGER_DIGITS})",
            location=location,
        )
    try:
        return int(text, base)
    except ValueError:
        raise InputError(f"{text!r} is not an integer", location=location) from None


def parse_finite_float(text: str, *, location: Location | None = None) -> float:
    """The finite number written as ``text``.

    Raises ``InputError`` at ``location`` for NaN, an infinity or a number too large for a
    float (``1.5e+99999``), naming what was written (shortened).
    """
    try:
        number = float(text)
    except ValueError:
        if text.strip().lstrip("+-").lower() not in (".inf", ".nan"):  # YAML 1.1 spellings
            raise InputError(f"{_shown(text)} is not a number", location=location) from None
        number = math.nan
    if not math.isfinite(number):
        raise InputError(
            f"{_shown(text)} is not a finite number (NaN, infinities and numbers beyond "
            "±1.8e+308 cannot be written into a chart)",
            location=location,
        )
    return number


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
