"""values.yaml text as a user wrote it (``core.instances.values_text``): kept as written but
for the YAML 1.1 look-alikes, which are quoted in place; hostile text refused at its line."""

from __future__ import annotations

import json

import pytest
import yaml as pyyaml
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError
from helmforge.core.instances.values_text import (
    MAX_VALUES_BYTES,
    QuotedScalar,
    checked_values_text,
)
from helmforge.core.yaml_codec import load_single

TYPED = """\
# Values of shop/acme/dev/eu-1 (typed by ops)
replicaCount: 3   # scaled for the sale
greeting: on
enabled: true
mode: 0755
backup: 12:30
answer: y
version: 1.10
ratio: 1.5
# the ports, in order
ports: [80, 443]
on: yes
base: &base {cpu: 1}
other: *base
"""


def test_comments_and_order_stay_and_only_the_look_alikes_are_quoted() -> None:
    checked = checked_values_text(TYPED)
    assert checked.text == (
        TYPED.replace("greeting: on", 'greeting: "on"')
        .replace("mode: 0755", 'mode: "0755"')
        .replace("backup: 12:30", 'backup: "12:30"')
        .replace("answer: y", 'answer: "y"')
        .replace("version: 1.10", 'version: "1.10"')
        .replace("on: yes", '"on": "yes"')
    )
    assert checked.values == {
        "replicaCount": 3,
        "greeting": "on",
        "enabled": True,
        "mode": "0755",
        "backup": "12:30",
        "answer": "y",
        "version": "1.10",
        "ratio": 1.5,
        "ports": [80, 443],
        "on": "yes",
        "base": {"cpu": 1},
        "other": {"cpu": 1},
    }
    assert checked.quoted[0] == QuotedScalar(line=3, text="on")
    assert [q.line for q in checked.quoted] == [3, 5, 6, 7, 8, 12, 12]
    # What Helm's YAML 1.1 reads is what helmforge means.
    assert pyyaml.safe_load(checked.text) == checked.values


def test_text_without_look_alikes_is_committed_byte_for_byte() -> None:
    text = "# nothing to quote\nimage:\n  tag: '1.2.3'  # pinned\nreplicaCount: 2\n"
    assert checked_values_text(text).text == text
    assert checked_values_text("").values == {}
    assert checked_values_text("# only a comment\n").text == "# only a comment\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("- a\n- b\n", 1, "mapping of values at its top level, found a list"),
        ("plain text\n", 1, "found str"),
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first on line 1, again on line 3)"),
        ("a: 1\nb: !!python/object/apply:os.system [id]\n", 2, "is not allowed"),
        ("a: !custom x\n", 1, "is not allowed"),
        ("a: 1\n<<: {b: 2}\n", 2, "merge keys"),
        ("a: 1\nb: [1, 2\nc: 3\n", 3, "invalid YAML"),
    ],
)
def test_hostile_text_is_refused_at_its_line(text: str, line: int, words: str) -> None:
    with pytest.raises(InputError) as caught:
        checked_values_text(text)
    assert caught.value.location is not None
    assert caught.value.location.line == line
    assert words in caught.value.message


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    with pytest.raises(InputError, match="alias bomb") as caught:
        checked_values_text("\n".join(rows) + "\n")
    assert caught.value.location is not None
    assert caught.value.location.line is not None


def test_a_huge_text_is_refused_naming_the_line_past_the_budget() -> None:
    row = "k" * 99 + ": v\n"
    text = row * (MAX_VALUES_BYTES // len(row) + 2)
    with pytest.raises(InputError, match="at most 1048576") as caught:
        checked_values_text(text)
    assert caught.value.location is not None
    assert caught.value.location.line == MAX_VALUES_BYTES // len(row) + 1


_PLAIN_WORDS = st.sampled_from(
    ["on", "off", "y", "n", "yes", "No", "0755", "12:30", "1.10", "1e3", "~", "null", "true",
     "3", "-7", "1.5", "web", "0x1F", "2024-01-01", ".inf", "=", "a b", "1_000"]
)  # fmt: skip


@given(st.dictionaries(st.sampled_from(["a", "on", "y", "1.5", "b-c"]), _PLAIN_WORDS, max_size=5))
def test_whatever_is_typed_reads_the_same_to_helmforge_and_to_yaml_1_1(
    typed: dict[str, str],
) -> None:
    text = "".join(f"{key}: {value}  # typed\n" for key, value in typed.items())
    checked = checked_values_text(text)
    meant = load_single(text, source="typed").data or {}
    helm = pyyaml.safe_load(checked.text) or {}
    # JSON tells true from 1 and fails on a date or any other YAML 1.1 reading.
    assert json.dumps(helm, sort_keys=True) == json.dumps(meant, sort_keys=True)
    assert checked.values == meant
    assert checked.text.count("# typed") == len(typed)
