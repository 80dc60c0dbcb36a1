"""--set and -f overrides: Helm's syntax, helmforge's strict typing, merge order."""

from __future__ import annotations

from pathlib import Path

import pytest

from helmforge.core.errors import InputError, TooLargeError
from helmforge.services.overrides import build_overrides, merge_values, parse_assignments


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("a.b=1", {"a": {"b": 1}}),
        ("a=1,b=true", {"a": 1, "b": True}),
        ("hosts[1]=x", {"hosts": [None, "x"]}),
        ("list[0].name=web", {"list": [{"name": "web"}]}),
        ("m[0][1]=z", {"m": [[None, "z"]]}),
        (r"annotations.example\.com/team=core", {"annotations": {"example.com/team": "core"}}),
        (r"note=a\,b", {"note": "a,b"}),
        ("s={a,3,on}", {"s": ["a", 3, "on"]}),
        ("s={}", {"s": []}),
        ("empty=", {"empty": ""}),
        ("gone=null", {"gone": None}),
        ("f=1.5", {"f": 1.5}),
        ("image=repo.example.com/app:1.0", {"image": "repo.example.com/app:1.0"}),
        ("x=a=b", {"x": "a=b"}),
    ],
)
def test_assignments(argument: str, expected: dict[str, object]) -> None:
    assert parse_assignments([argument]) == expected


@pytest.mark.parametrize("text", ["on", "yes", "no", "y", "0755", "1.10", "1e3", "12:30:00", "~"])
def test_yaml_11_lookalikes_stay_strings(text: str) -> None:
    assert parse_assignments([f"v={text}"]) == {"v": text}


def test_later_assignments_win_and_reshape() -> None:
    assert parse_assignments(["a=1", "a.b=2", "a.c=3"]) == {"a": {"b": 2, "c": 3}}
    assert parse_assignments(["l[0]=1", "l[0]=2"]) == {"l": [2]}


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("novalue", "is not PATH=VALUE"),
        ("=1", "is not PATH=VALUE"),
        ("a..b=1", "segment ''"),
        ("a[x]=1", "NAME"),
        ("a[-1]=1", "NAME"),
    ],
)
def test_bad_assignments_are_named(argument: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        parse_assignments(["ok=1", argument])
    assert "--set #2" in str(caught.value)


def test_huge_index_is_refused() -> None:
    with pytest.raises(TooLargeError, match="list index"):
        parse_assignments(["a[100000000]=1"])


def test_merge_maps_recursively_and_replace_lists() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge_values(base, {"a": {"c": [3]}, "e": 2}) == {
        "a": {"b": 1, "c": [3]},
        "d": 1,
        "e": 2,
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_files_then_sets(tmp_path: Path) -> None:
    first = tmp_path / "one.yaml"
    first.write_text("image:\n  tag: '1.0'\n  repository: a\nreplicaCount: 2\n")
    second = tmp_path / "two.yaml"
    second.write_text("image:\n  tag: '2.0'\nflag: on\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    overrides = build_overrides(value_files=[first, second, empty], assignments=["replicaCount=5"])
    assert overrides == {
        "image": {"tag": "2.0", "repository": "a"},
        "replicaCount": 5,
        "flag": "on",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", "mapping of values"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("a: !!python/object/apply:os.system ['true']\n", "not allowed"),
        ("a: [\n", "invalid YAML"),
    ],
)
def test_bad_values_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        build_overrides(value_files=[path])
    assert str(path) in str(caught.value)


def test_missing_values_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read values file"):
        build_overrides(value_files=[tmp_path / "nope.yaml"])
