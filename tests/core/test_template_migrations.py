"""``spec.migrations`` (DESIGN §10): read with file:line errors, SemVer ranges, and the
migration of overrides (renames, retypes, what cannot be migrated)."""

from __future__ import annotations

import pytest

from helmforge.core.errors import InputError
from helmforge.core.templates.migrations import migrate_overrides, range_holds
from helmforge.core.templates.parsing import parse_template
from tests.support.charts import example_text


def with_migrations(block: str, *, version: str = "2.0.0") -> str:
    text = example_text(version=version)
    return text.replace('  kubernetesVersion: "1.31"\n', '  kubernetesVersion: "1.31"\n' + block, 1)


MIGRATIONS = """  migrations:
    - from: "<2.0.0"
      rename: {replicaCount: autoscaling.minReplicas}
      retype: {containerPort: integer, logLevel: string}
    - from: ">=1.0.0 <1.5.0"
      rename: {greeting: logLevel}
"""


def test_migrations_are_read_in_order_with_their_lines() -> None:
    template = parse_template(with_migrations(MIGRATIONS), source="web.yaml")
    first, second = template.migrations
    assert first.from_range == "<2.0.0"
    assert first.rename == (("replicaCount", "autoscaling.minReplicas"),)
    assert first.retype == (("containerPort", "integer"), ("logLevel", "string"))
    assert second.from_range == ">=1.0.0 <1.5.0"
    assert first.line is not None
    assert second.line == first.line + 3


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ('  migrations:\n    - from: "later"\n      rename: {a: replicaCount}\n', "no comparator"),
        ("  migrations:\n    - rename: {a: replicaCount}\n", "from is required"),
        (
            '  migrations:\n    - from: "<2.0.0"\n      rename: {a: nothing.here}\n',
            "nothing.here is no parameter",
        ),
        (
            '  migrations:\n    - from: "<2.0.0"\n      retype: {replicaCount: float}\n',
            "'float' is not valid; give integer, number, string, boolean",
        ),
        ('  migrations:\n    - from: "<2.0.0"\n', "needs rename and/or retype"),
        ('  migrations:\n    - from: "<2.0.0"\n      move: {a: b}\n', "unknown key 'move'"),
        ("  migrations: {from: x}\n", "migrations must be a list"),
    ],
)  # fmt: skip
def test_a_bad_migration_names_its_file_line_and_path(block: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_template(with_migrations(block), source="web.yaml")
    found = [problem for problem in raised.value.problems if message in str(problem)]
    assert found, [str(problem) for problem in raised.value.problems]
    location = found[0].location
    assert location.source == "web.yaml"
    assert location.line is not None
    assert (location.path or "").startswith("spec.migrations")


@pytest.mark.parametrize(
    ("range_text", "version", "holds"),
    [
        ("<2.0.0", "1.9.9", True),
        ("<2.0.0", "2.0.0", False),
        ("<2.0.0", "2.0.0-rc.1", True),
        (">=1.0.0 <2.0.0", "1.2.0", True),
        (">=1.0.0, <2.0.0", "0.9.0", False),
        (">= 1.0.0", "1.0.0", True),
        ("1.2.0", "1.2.0", True),
        ("!=1.2.0", "1.2.0", False),
        ("*", "0.0.1", True),
        ("soon", "1.0.0", False),
    ],
)
def test_ranges_hold_by_semver_precedence(range_text: str, version: str, holds: bool) -> None:
    assert range_holds(range_text, version) is holds


def test_overrides_are_renamed_then_retyped_and_what_cannot_be_is_reported() -> None:
    migrations = parse_template(with_migrations(MIGRATIONS), source="web.yaml").migrations
    result = migrate_overrides(
        migrations,
        "1.2.0",
        {"replicaCount": 4, "containerPort": "8081", "greeting": "hi", "logLevel": "warn"},
    )
    assert result.values == {
        "autoscaling": {"minReplicas": 4},
        "containerPort": 8081,
        "greeting": "hi",
        "logLevel": "warn",
    }
    assert result.applied == (
        "renamed replicaCount to autoscaling.minReplicas",
        "retyped containerPort to integer",
    )
    assert result.problems == ("greeting: cannot be renamed to logLevel, which is set too",)

    failed = migrate_overrides(migrations, "1.9.0", {"containerPort": "eighty"})
    assert failed.values == {"containerPort": "eighty"}
    assert failed.problems == ("containerPort: 'eighty' has no reading as integer",)

    untouched = migrate_overrides(migrations, "2.0.0", {"replicaCount": 4})
    assert untouched.values == {"replicaCount": 4}
    assert not untouched.migrated


def test_a_rename_out_of_a_group_drops_the_group_it_emptied() -> None:
    block = '  migrations:\n    - from: "*"\n      rename: {image.tag: logLevel}\n'
    migrations = parse_template(with_migrations(block), source="web.yaml").migrations
    result = migrate_overrides(migrations, "1.0.0", {"image": {"tag": "debug"}})
    assert result.values == {"logLevel": "debug"}
