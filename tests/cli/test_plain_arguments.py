"""Commands run without Typer's parser (``helmforge.cli.plain_arguments``) get exactly what
Typer would give them, or are left to Typer."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from helmforge.cli.main import PLAIN_COMMANDS
from helmforge.cli.plain_arguments import Argument, Option, parse_plain, typer_command

runner = CliRunner()


def _command(name: str) -> Callable[..., Any]:
    function: Callable[..., Any] = getattr(
        importlib.import_module(f"helmforge.cli.{PLAIN_COMMANDS[name]}"), name
    )
    return function


def _typer_keywords(
    function: Callable[..., Any], arguments: list[str], environment: dict[str, str]
) -> dict[str, Any] | None:
    """What Typer calls ``function`` with for ``arguments`` (None: Typer refuses them)."""
    calls: list[dict[str, Any]] = []

    @functools.wraps(function)
    def record(**keywords: Any) -> None:
        calls.append(keywords)

    app = typer.Typer(rich_markup_mode=None)
    app.callback()(lambda: None)
    app.command(function.__name__)(typer_command(record))
    # The outer environment's HELMFORGE_* variables would reach Typer: removed for the run.
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("HELMFORGE_")}
    result = runner.invoke(app, [function.__name__, *arguments], env={**unset, **environment})
    if result.exit_code != 0:
        return None
    (keywords,) = calls
    return keywords


def _plain(
    function: Callable[..., Any], arguments: list[str], environment: dict[str, str]
) -> dict[str, Any] | None:
    return parse_plain(function, arguments, environment)


#: (command, arguments, environment): each is parsed without Typer, exactly as Typer does.
PLAIN = [
    ("push", ["a.tgz", "oci://r.example/x"], {}),
    ("push", ["a.tgz", "b.tgz", "oci://r.example/x", "--plain-http"], {}),
    ("push", ["--plain-http", "a.tgz", "--workers", "3", "oci://r.example/x"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--workers=32", "--password-stdin"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--username", "robot$proj+ci"], {}),
    ("push", ["a.tgz", "oci://r.example/x"], {"HELMFORGE_USERNAME": "robot"}),
    ("push", ["a.tgz", "oci://r.example/x", "--username=me"], {"HELMFORGE_USERNAME": "robot"}),
    ("push", ["-", "oci://r.example/x"], {}),
    ("versions", ["oci://r.example/x/demo"], {}),
    ("versions", ["oci://r.example/x/demo", "--plain-http", "--username", "u"], {}),
]

#: ... and these are left to Typer: help, usage errors, what Click reads its own way.
TYPERS = [
    ("push", ["--help"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "-h"], {}),
    ("push", [], {}),
    ("push", ["a.tgz", "--", "oci://r.example/x"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--workers", "33"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--workers", "0"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--workers", "four"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--workers"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--workers", "2", "--workers", "3"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--plain-http=yes"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--username", "--plain-http"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--ca-file", "ca.pem"], {}),
    ("push", ["a.tgz", "oci://r.example/x", "--no-such-option"], {}),
    ("push", ["a.tgz", "oci://r.example/x"], {"HELMFORGE_PLAIN_HTTP": "1"}),
    ("push", ["a.tgz", "oci://r.example/x"], {"HELMFORGE_PUSH_WORKERS": "2"}),
    ("push", ["a.tgz", "oci://r.example/x"], {"HELMFORGE_CA_FILE": "ca.pem"}),
    ("push", ["a.tgz", "oci://r.example/x"], {"HELMFORGE_USERNAME": ""}),
    ("versions", [], {}),
    ("versions", ["oci://r.example/x/a", "oci://r.example/x/b"], {}),
]


@pytest.mark.parametrize(("command", "arguments", "environment"), PLAIN)
def test_plain_arguments_are_what_typer_gives(
    command: str, arguments: list[str], environment: dict[str, str]
) -> None:
    function = _command(command)
    plain = _plain(function, arguments, environment)
    assert plain is not None, "expected to be parsed without Typer"
    assert plain == _typer_keywords(function, arguments, environment)


@pytest.mark.parametrize(("command", "arguments", "environment"), TYPERS)
def test_other_arguments_are_left_to_typer(
    command: str, arguments: list[str], environment: dict[str, str]
) -> None:
    assert _plain(_command(command), arguments, environment) is None


def test_every_plain_command_is_plain() -> None:
    # A command whose declarations grew something the plain parser does not read (a callback,
    # a prompt, a second argument) would silently always go through Typer.
    for command in PLAIN_COMMANDS:
        function = _command(command)
        arguments = ["oci://r.example/x/demo"] if command == "versions" else ["a", "oci://r/x"]
        assert _plain(function, arguments, {}) is not None, command


def _with_two_arguments(
    first: Annotated[str, Argument("FIRST", "")], second: Annotated[str, Argument("SECOND", "")]
) -> None:
    pass


def _with_an_on_flag(
    words: Annotated[list[str], Argument("WORDS", "")],
    *,
    loud: Annotated[bool, Option("--loud", envvar="LOUD", help="")] = True,
) -> None:
    pass


def _with_a_repeated_option(
    words: Annotated[list[str], Argument("WORDS", "")],
    *,
    tags: Annotated[list[str], Option("--tag", envvar="TAGS", help="")] = [],  # noqa: B006
) -> None:
    pass


def _with_a_number_of_another_kind(
    words: Annotated[list[str], Argument("WORDS", "")],
    *,
    ratio: Annotated[float, Option("--ratio", envvar="RATIO", help="")] = 1.0,
) -> None:
    pass


def _with_typer_s_own_declarations(
    words: Annotated[list[str], typer.Argument()],
    *,
    volume: Annotated[int, typer.Option("--volume")] = 1,
) -> None:
    pass


@pytest.mark.parametrize(
    "function",
    [
        _with_two_arguments,
        _with_an_on_flag,
        _with_a_repeated_option,
        _with_a_number_of_another_kind,
        _with_typer_s_own_declarations,
    ],
)
def test_commands_with_more_than_plain_parameters_are_left_to_typer(
    function: Callable[..., None],
) -> None:
    assert parse_plain(function, ["x", "y"], {}) is None
    with pytest.raises(TypeError, match="plain Argument/Option"):
        typer_command(function)


def test_typer_gets_the_declared_help_metavar_and_variables() -> None:
    app = typer.Typer(rich_markup_mode=None)
    app.callback()(lambda: None)
    app.command("push")(typer_command(_command("push")))
    result = runner.invoke(app, ["push", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for text in (
        "CHART.tgz... oci://HOST[:PORT]/PATH",
        "--plain-http",
        "env var: HELMFORGE_PLAIN_HTTP",
        "--workers",
        "1<=x<=32",
        "env var: HELMFORGE_PUSH_WORKERS",
        "Push chart archives to an OCI registry",
    ):
        assert text in result.stdout
