"""Reading JSON safely: the one decoding every JSON body goes through.

Python's ``json.loads`` accepts what no other JSON reader does and what Helm cannot load
later: ``NaN``, ``Infinity``, ``1.5e+99999`` (read as infinity), lone UTF-16 surrogates
(``"\\ud800"``, which then fail when encoded for the database or the response), integers of
thousands of digits (``int()`` refuses past 4,300 and raises instead of answering) and nesting
thousands deep (recursion errors later, in merges and validators). Python also keeps the last of
two equal keys in one object silently (``{"a": 1, "a": 2}``). ``load_json`` refuses each
with an ``InputError`` that names where it is: a line and column, or the JSON path.

Nesting is measured on the text before parsing, so nothing recurses past ``max_depth``.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_DEPTH", "load_json"]

import json
import re
from itertools import accumulate
from typing import Any

from helmforge.core.errors import InputError, Location, TooLargeError
from helmforge.core.numbers import parse_finite_float, parse_integer

#: The same bound as the YAML codec's: values nested deeper than this are not configuration.
DEFAULT_MAX_DEPTH = 200

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# A \uD800-\uDFFF escape: only then can the parsed text hold a lone surrogate (raw surrogate
# bytes are not UTF-8 and fail the decoding before).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _RefusedError(Exception):
    """A number hook's refusal, carried out of ``json.loads`` with the text it refused."""

    def __init__(self, error: InputError, token: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.token = token


def _integer(text: str) -> int:
    try:
        return parse_integer(text)
    except InputError as error:
        raise _RefusedError(error, text) from None


def _float(text: str) -> float:
    try:
        return parse_finite_float(text)
    except InputError as error:
        raise _RefusedError(error, text) from None


def _constant(text: str) -> Any:
    raise _RefusedError(
        InputError(
            f"{text} is not valid JSON: numbers must be finite (NaN and infinities are not)"
        ),
        text,
    )


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return data


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_json(
    content: str | bytes, *, source: str = "<input>", max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """The value of the JSON text ``content`` (bytes must be UTF-8).

    Raises ``InputError`` naming ``source`` and the line and column (or the JSON path) of the
    first problem: invalid JSON, a non-finite or overlong number, a lone surrogate, a key given
    twice in one object (with both lines);
    ``TooLargeError`` for nesting deeper than ``max_depth``.
    """
    if isinstance(content, bytes):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(
                f"not UTF-8 text (byte {error.start} cannot be decoded)", location=Location(source)
            ) from None
    else:
        text = content
    _check_depth(text, source, max_depth)
    try:
        data = json.loads(
            text,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}",
            location=Location(source),
        ) from None
    except _RefusedError as refused:
        raise InputError(
            f"{_position(text, refused.token)}{refused.error.message}", location=Location(source)
        ) from None
    except _DuplicateKeyError as duplicate:
        raise InputError(
            f"{_key_lines(text, duplicate.key)}key {duplicate.key!r} appears twice in one object; "
            "JSON readers would keep only one of them silently: give each key once",
            location=Location(source),
        ) from None
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(data, source)
    return data


def _check_depth(text: str, source: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") <= max_depth:
        return  # too few brackets to nest that deep: skip the scan
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    deepest = max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if deepest > max_depth:
        raise TooLargeError(
            f"JSON nested {deepest} levels deep; at most {max_depth} are allowed",
            location=Location(source),
        )


def _position(text: str, token: str) -> str:
    # The hooks are not told where their text was; its first occurrence outside a string is
    # a good enough pointer (the message also names the text itself).
    found = re.search(rf"(?<![\w.\"]){re.escape(token)}(?![\w.])", _blank_strings(text))
    if found is None:
        return ""
    before = text[: found.start()]
    line = before.count("\n") + 1
    column = found.start() - (before.rfind("\n") + 1) + 1
    return f"line {line} column {column}: "


def _key_lines(text: str, key: str) -> str:
    # Where the key is spelt as json.dumps spells it (escapes written otherwise are not found).
    spelt = re.escape(json.dumps(key)) + r"\s*:"
    lines = [text.count("\n", 0, found.start()) + 1 for found in re.finditer(spelt, text)]
    return f"lines {lines[0]} and {lines[1]}: " if len(lines) >= 2 else ""


def _blank_strings(text: str) -> str:
    # Same length, so offsets stay valid; strings become quotes around spaces.
    return _STRING.sub(lambda match: '"' + " " * (len(match.group()) - 2) + '"', text)


def _check_surrogates(data: Any, source: str) -> None:
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                _refuse_surrogate(key, path or "(top level)", source, what="a key")
                stack.append((value, child))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node))
        elif isinstance(node, str):
            _refuse_surrogate(node, path or "(top level)", source, what="a string")


def _refuse_surrogate(text: str, path: str, source: str, *, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise InputError(
            f"{what} holds a lone UTF-16 surrogate \\u{code:04x} at character {error.start}; "
            "surrogates must come in pairs (or send the character itself as UTF-8)",
            location=Location(source, path=_printable(path)),
        ) from None


def _printable(path: str) -> str:
    # The path may itself hold the surrogate (a key): never put one into a message.
    return path.encode("utf-8", "backslashreplace").decode("utf-8")
