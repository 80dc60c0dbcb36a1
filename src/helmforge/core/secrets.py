"""A string that must never be printed: passwords, tokens, robot secrets.

``Secret`` hides its value from ``str``, ``repr``, f-strings, logging and pickling by
accident; code that needs the value calls ``reveal()`` at the single point of use (an
``Authorization`` header, the encryption helper).
"""

from __future__ import annotations

__all__ = ["Secret"]

from typing import NoReturn

_MASK = "**********"


class Secret:
    """Holds a secret string; every printed form is a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send or encrypt it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not picklable; encrypt it with adapters.secrets instead")
