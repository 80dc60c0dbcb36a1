"""The JSON decoding every request body goes through: what ``json.loads`` accepts and Helm,
the database or a later recursion cannot, is refused here with where it is."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError, TooLargeError
from helmforge.core.json_codec import load_json
from helmforge.core.templates.layering import deep_merge


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": NaN}', "line 1 column 7"),
        ('{"a": [1,\n  -Infinity]}', "line 2 column 3"),
        ('{"s": "NaN", "a": Infinity}', "line 1 column 19"),
        ('{"a": 1.5e+99999}', "line 1 column 7"),
    ],
)
def test_nan_and_infinities_are_refused_with_line_and_column(text: str, where: str) -> None:
    with pytest.raises(InputError, match=rf"^body: {where}: .*finite"):
        load_json(text, source="body")


def test_a_5000_digit_integer_is_refused_before_int_raises() -> None:
    with pytest.raises(InputError, match="an integer of 5000 digits is too long"):
        load_json('{"n": ' + "7" * 5000 + "}")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": "x\\ud800"}', "a"),
        ('{"a": [1, {"b": "\\udfff"}]}', r"a\[1\]\.b"),
        ('{"\\ud800k": 1}', r"\(top level\)"),
        ('"\\udc00"', r"\(top level\)"),
    ],
)
def test_lone_surrogates_are_refused_with_their_path(text: str, path: str) -> None:
    with pytest.raises(InputError, match=rf"^body: {path}: a (key|string) holds a lone"):
        load_json(text, source="body")


def test_surrogate_pairs_escaped_backslashes_and_raw_utf8_pass() -> None:
    text = '{"rocket": "\\ud83d\\ude80", "literal": "\\\\ud800", "raw": "ü"}'
    assert load_json(text.encode()) == {"rocket": "\U0001f680", "literal": "\\ud800", "raw": "ü"}
    with pytest.raises(InputError, match=r"not UTF-8 text \(byte 1"):
        load_json(b'"\xed\xa0\x80"')


@pytest.mark.parametrize("depth", [201, 500, 5000, 1_000_000])
def test_deep_nesting_is_refused_before_parsing(depth: int) -> None:
    with pytest.raises(TooLargeError, match=f"nested {depth} levels deep; at most 200"):
        load_json("[" * depth + "]" * depth)
    brackets_in_strings = '["' + "[" * 5000 + '"]'
    assert load_json(brackets_in_strings) == ["[" * 5000]
    assert load_json("[" * 200 + "]" * 200) is not None


def test_deep_merge_is_iterative() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(20_000):
        node["k"] = {}
        node = node["k"]  # type: ignore[assignment]
    merged = deep_merge({"k": {"other": [1, [2]]}}, deep)
    assert merged["k"]["other"] == [1, [2]]


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=30,
    )
)
def test_whatever_json_dumps_writes_reads_back(value: object) -> None:
    text = json.dumps(value, allow_nan=False)
    assert load_json(text) == json.loads(text)
