from __future__ import annotations

import resource

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from helmforge.core.errors import InputError, TooLargeError
from helmforge.core.yaml_codec import (
    YamlLimits,
    dump_yaml,
    load_documents,
    load_single,
    needs_quotes,
)


def test_duplicate_keys_are_rejected_with_both_lines() -> None:
    with pytest.raises(InputError) as caught:
        load_single("a: 1\nb: 2\na: 3\n", source="values.yaml")
    message = str(caught.value)
    assert "values.yaml:3" in message
    assert "first on line 1, again on line 3" in message


@pytest.mark.parametrize("depth", [1_000, 50_000])
def test_deep_flow_nesting_is_rejected_without_crashing(depth: int) -> None:
    with pytest.raises(
        InputError,
        match=r"^deep\.yaml:1: .*(nesting deeper than 200 levels|exceeded maximum nesting depth)$",
    ):
        load_single("[" * depth + "]" * depth, source="deep.yaml")


def test_deep_block_nesting_hits_the_depth_budget() -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(300)) + "  " * 300 + "x: 1\n"
    with pytest.raises(TooLargeError, match="nesting deeper than 200"):
        load_single(text)


def test_alias_bomb_is_stopped_by_the_node_budget() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    # The budget stops it by counting nodes, not by a clock: memory proves nothing expanded.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TooLargeError, match="alias bomb"):
        load_single("\n".join(lines))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_aliases_within_budget_are_copies_not_shared_objects() -> None:
    data = load_single("base: &b {x: 1}\nother: *b\n").data
    assert data["other"] == {"x": 1}
    data["other"]["x"] = 2
    assert data["base"]["x"] == 1


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!custom x"],
)
def test_unsafe_and_unknown_tags_are_rejected(tag: str) -> None:
    with pytest.raises(InputError, match="not allowed"):
        load_single(f"x: {tag}\n", source="t.yaml")


def test_yaml_1_1_scalars_keep_the_users_text() -> None:
    text = "a: NO\nb: on\nc: yes\nd: 0755\ne: 1.10\nf: 12:30:00\ng: 1e3\nh: y\n"
    data = load_single(text).data
    assert data == {
        "a": "NO",
        "b": "on",
        "c": "yes",
        "d": "0755",
        "e": "1.10",
        "f": "12:30:00",
        "g": "1e3",
        "h": "y",
    }


def test_on_and_yes_keys_do_not_collide() -> None:
    assert load_single("on: 1\nyes: 2\n").data == {"on": 1, "yes": 2}


def test_canonical_numbers_booleans_and_nulls_resolve() -> None:
    data = load_single("i: 42\nn: -7\nf: 1.5\nt: true\nF: False\nz: ~\ne:\nq: '42'\n").data
    assert data == {
        "i": 42,
        "n": -7,
        "f": 1.5,
        "t": True,
        "F": False,
        "z": None,
        "e": None,
        "q": "42",
    }


def test_bom_crlf_and_empty_documents() -> None:
    documents = load_documents("\ufeffa: 1\r\nb: [1, 2]\r\n---\n---\nc: d\n")
    assert [d.data for d in documents] == [{"a": 1, "b": [1, 2]}, None, {"c": "d"}]
    assert documents[2].line == 4  # its '---'


def test_size_budget_is_checked_before_parsing() -> None:
    with pytest.raises(TooLargeError, match="over the limit"):
        load_documents("a: 1\n" * 100, limits=YamlLimits(max_bytes=100))


def test_invalid_utf8_names_the_byte() -> None:
    with pytest.raises(InputError, match="not UTF-8"):
        load_documents(b"a: \xff\n", source="bad.yaml")


def test_lone_surrogates_are_rejected_not_crashing() -> None:
    with pytest.raises(InputError, match="not valid Unicode"):
        load_documents("a: \ud800\n", source="bad.yaml")


def test_merge_keys_are_rejected() -> None:
    with pytest.raises(InputError, match="merge keys"):
        load_single("base: &b {x: 1}\nother:\n  <<: *b\n")


def test_line_map_locates_nested_paths() -> None:
    document = load_single("spec:\n  items:\n    - name: a\n    - name: b\n", track_lines=True)
    assert document.lines.line_of(("spec", "items", 1, "name")) == 4
    assert document.lines.line_of(("spec", "items", 1, "missing")) == 4


def test_one_document_expected() -> None:
    with pytest.raises(InputError, match="second starts on line 2"):
        load_single("a: 1\n---\nb: 2\n")


@pytest.mark.parametrize("text", ["y", "n", "no", "on", "1e3", "0o17", "01:30", "0755", "1.10", ""])
def test_ambiguous_strings_are_quoted_when_written(text: str) -> None:
    written = dump_yaml({"v": text})
    assert needs_quotes(text)
    assert yaml.safe_load(written) == {"v": text}  # PyYAML's YAML 1.1 reading
    assert load_single(written).data == {"v": text}
    assert written.startswith('v: "')


scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.none(),
    st.sampled_from(["y", "n", "on", "off", "0755", "1.10", "1e3", "{{ x }}", "a: b", "- x", "#"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


@given(values)
def test_written_yaml_reads_back_identically(data: object) -> None:
    written = dump_yaml({"root": data})
    assert load_single(written).data == {"root": data}
    assert yaml.safe_load(written) == {"root": data}


@pytest.mark.parametrize(
    "value",
    ["!!float nan", "!!float .nan", "!!float inf", "!!float -.inf", "1.5e+99999", "-2.0e+400"],
)
def test_non_finite_numbers_are_refused_with_file_and_line(value: str) -> None:
    with pytest.raises(InputError, match=r"^values\.yaml:2: a\.b: .*not a finite number"):
        load_single(f"a:\n  b: {value}\n", source="values.yaml")


@pytest.mark.parametrize("value", ["1" * 5000, "-" + "9" * 101, "!!int 0x" + "f" * 4400])
def test_a_5000_digit_integer_is_an_input_error_not_a_value_error(value: str) -> None:
    with pytest.raises(InputError, match=r"^v\.yaml:1: n: an integer of \d+ digits is too long"):
        load_single(f"n: {value}\n", source="v.yaml")
    assert load_single("n: " + "9" * 100).data == {"n": int("9" * 100)}
