"""values.yaml edits that keep the operator's file (RELIABILITY rows 4, 6, 26, 50)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helmforge.core.errors import InputError
from helmforge.core.instances.value_paths import format_path, parse_path
from helmforge.core.instances.values_diff import (
    ValueChange,
    changes_as_json,
    override_changes,
    unified_diff,
)
from helmforge.core.instances.values_edits import (
    DeleteValue,
    SetValue,
    apply_edits,
    edits_between,
    replace_values,
)
from helmforge.core.yaml_codec import dump_yaml, load_single

COMMENTED = """\
# Overrides for shop in prod: ask #team-shop before changing
replicas: 3  # sized for Black Friday
image:
  # pinned by the release train
  tag: "1.2"
  pullPolicy: IfNotPresent
resources:
  limits:
    cpu: 500m
"""


def _read(text: str) -> Any:
    return load_single(text, source="test").data


def test_a_set_keeps_comments_and_key_order() -> None:
    result = apply_edits(COMMENTED, [SetValue(("image", "tag"), "1.3")])
    assert result.text == COMMENTED.replace('tag: "1.2"', 'tag: "1.3"')
    assert list(result.after) == ["replicas", "image", "resources"]
    assert result.changed


@pytest.mark.parametrize(
    "text", ["y", "n", "yes", "on", "off", "NO", "0755", "12:30", "1e3", "1.10", "0o17", "~", ""]
)
def test_strings_yaml_1_1_would_misread_are_written_quoted(text: str) -> None:
    result = apply_edits(COMMENTED, [SetValue(("flag",), text), SetValue(("keys", text or "e"), 1)])
    written = result.text.splitlines()
    assert f'flag: "{text}"' in written
    # A PyYAML (YAML 1.1, like Helm's reader) load gives the same strings back.
    import yaml

    yaml11 = yaml.safe_load(result.text)
    assert yaml11["flag"] == text
    assert list(yaml11["keys"]) == [text or "e"]


def test_an_edit_through_an_alias_leaves_the_anchors_other_uses() -> None:
    text = "base: &base\n  size: 1  # small\n  name: a\nblue: *base\ngreen: *base\n"
    result = apply_edits(text, [SetValue(("blue", "size"), 2)])
    after = _read(result.text)
    assert after == {
        "base": {"size": 1, "name": "a"},
        "blue": {"size": 2, "name": "a"},
        "green": {"size": 1, "name": "a"},
    }
    assert "green: *base" in result.text  # the untouched use is still an alias
    assert "size: 2  # small" in result.text


def test_an_edit_of_the_anchor_itself_leaves_its_aliases() -> None:
    text = "base: &base\n  size: 1\nblue: *base\n"
    result = apply_edits(text, [SetValue(("base", "size"), 5), DeleteValue(("blue", "size"))])
    assert _read(result.text) == {"base": {"size": 5}}


def test_an_anchored_scalar_changed_at_one_use_only() -> None:
    text = "a: &v hello\nb: *v\n"
    assert _read(apply_edits(text, [SetValue(("a",), "bye")]).text) == {"a": "bye", "b": "hello"}


def test_deletes_prune_emptied_mappings_and_missing_paths_are_no_ops() -> None:
    result = apply_edits(COMMENTED, [DeleteValue(("resources", "limits", "cpu"))])
    assert "resources" not in result.after
    assert apply_edits(COMMENTED, [DeleteValue(("nothing", "here"))]).text == COMMENTED


def test_floats_are_written_so_they_read_back_as_floats() -> None:
    result = apply_edits("", [SetValue(("f",), 1e20), SetValue(("g",), 0.5), SetValue(("h",), 3.0)])
    assert result.after == {"f": 1e20, "g": 0.5, "h": 3.0}
    assert "f: 1.0e+20" in result.text


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (SetValue(("replicas", "x"), 1), r"replicas is a single value"),
        (SetValue(("image", 0), 1), r"index \[0\] needs a list"),
        (SetValue(("new", 0), 1), "a list is never created by an index"),
        (SetValue(("f",), math.nan), "non-finite"),
        (SetValue(("f",), {1: "a"}), "keys must be strings"),
        (SetValue(("f",), b"bytes"), "not a values type"),
        (SetValue((), 1), "needs a path"),
    ],
)
def test_edits_that_do_not_fit_name_the_path(edit: SetValue, match: str) -> None:
    with pytest.raises(InputError, match=match):
        apply_edits(COMMENTED, [edit])


def test_list_items_are_set_appended_and_bounded() -> None:
    text = "env:\n  - name: A\n  - name: B\n"
    result = apply_edits(
        text, [SetValue(("env", 1, "name"), "C"), SetValue(("env", 2), {"name": "D"})]
    )
    assert result.after == {"env": [{"name": "A"}, {"name": "C"}, {"name": "D"}]}
    assert result.text.startswith("env:\n  - name: A\n")  # the file's list indentation stays
    with pytest.raises(InputError, match="out of range: the list has 2 items"):
        apply_edits(text, [SetValue(("env", 5, "name"), "X")])


def test_a_file_the_codec_refuses_is_refused() -> None:
    with pytest.raises(InputError, match="duplicate"):
        apply_edits("a: 1\na: 2\n", [SetValue(("b",), 1)])
    with pytest.raises(InputError, match="must hold a mapping"):
        apply_edits("- 1\n", [SetValue(("b",), 1)])


def test_replace_values_keeps_the_comments_of_what_stays() -> None:
    wanted = {"replicas": 4, "image": {"tag": "1.2", "pullPolicy": "Always"}}
    result = replace_values(COMMENTED, wanted)
    assert result.after == wanted
    assert "replicas: 4  # sized for Black Friday" in result.text
    assert "# pinned by the release train" in result.text


def test_the_override_diff_names_each_changed_leaf() -> None:
    result = apply_edits(
        COMMENTED,
        [SetValue(("image", "tag"), "1.3"), DeleteValue(("replicas",)), SetValue(("debug",), True)],
    )
    changes = override_changes(result.before, result.after)
    assert changes == (
        ValueChange(("image", "tag"), "changed", before="1.2", after="1.3"),
        ValueChange(("debug",), "added", after=True),
        ValueChange(("replicas",), "removed", before=3),
    )
    assert changes_as_json(changes)[0] == {
        "path": "image.tag",
        "kind": "changed",
        "before": "1.2",
        "after": "1.3",
    }
    diff = unified_diff(COMMENTED, result.text, path="shop/acme/prod/eu-1/values.yaml")
    assert diff.startswith(
        "--- a/shop/acme/prod/eu-1/values.yaml\n+++ b/shop/acme/prod/eu-1/values.yaml\n"
    )
    assert '-  tag: "1.2"\n+  tag: "1.3"\n' in diff


def test_a_type_change_is_a_change() -> None:
    assert override_changes({"a": 1}, {"a": True}) == (ValueChange(("a",), "changed", 1, True),)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("image.tag", ("image", "tag")),
        ("env[0].name", ("env", 0, "name")),
        ("annotations.example\\.com/x", ("annotations", "example.com/x")),
        ("a[1][2]", ("a", 1, 2)),
    ],
)
def test_paths_parse_and_format(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_path(text) == path
    assert format_path(path) == text


@pytest.mark.parametrize("text", ["", ".a", "a..b", "a[x]", "a[1", "a]b", "a[1]b"])
def test_bad_paths_say_what_a_path_looks_like(text: str) -> None:
    with pytest.raises(InputError, match="keys separated by"):
        parse_path(text)


# --- properties --------------------------------------------------------------------------

_TRICKY = st.sampled_from(
    [
        "y",
        "n",
        "yes",
        "on",
        "NO",
        "0755",
        "12:30",
        "1e3",
        "1.10",
        "null",
        "",
        "- x",
        "a: b",
        "#c",
        "multi\nline",
    ]
)
_STRINGS = st.one_of(
    _TRICKY, st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    _STRINGS,
)
_KEYS = st.one_of(_TRICKY, st.text("abcxyz-_.", min_size=1, max_size=5))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=12,
)
_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=5)


@settings(max_examples=40, deadline=None)
@given(_DOCUMENTS, _DOCUMENTS)
def test_replacing_any_values_reads_back_exactly(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    text = "# kept\n" + dump_yaml(before) if before else ""
    result = replace_values(text, after)
    assert (_read(result.text) or {}) == after
    assert result.after == after
    if before and after:
        assert result.text.startswith("# kept\n")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_KEYS, _KEYS, _SCALARS), min_size=1, max_size=4))
def test_edits_through_aliases_never_touch_other_uses(edits: list[tuple[str, str, Any]]) -> None:
    text = "base: &base\n  size: 1\n  name: a\nblue: *base\ngreen: *base\n"
    applied = [SetValue(("blue", key, inner), value) for key, inner, value in edits]
    result = apply_edits(text, applied)
    after = _read(result.text)
    assert after["base"] == after["green"] == {"size": 1, "name": "a"}
    for key, inner, value in edits:
        if all((k, i) != (key, inner) for k, i, _ in edits[edits.index((key, inner, value)) + 1 :]):
            assert after["blue"][key][inner] == value


@settings(max_examples=40, deadline=None)
@given(_DOCUMENTS, _DOCUMENTS)
def test_edits_between_is_the_smallest_edit_and_exact(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    edits = edits_between(before, after)
    assert all(edit.path[0] in before or edit.path[0] in after for edit in edits)
    assert (not edits) == (
        before == after and all(type(before[k]) is type(after[k]) for k in before)
    )


def test_a_header_comment_survives_emptying_and_refilling_the_file() -> None:
    header = "# Values of shop/acme/dev/eu-1: only what differs.\n# Written by helmforge.\n"
    filled = replace_values(header, {"replicaCount": 2})
    assert filled.text == header + "replicaCount: 2\n"
    emptied = replace_values(filled.text, {})
    assert emptied.text == header
    assert emptied.after == {}
    refilled = replace_values(emptied.text, {"greeting": "on"})
    assert refilled.text == header + 'greeting: "on"\n'
