"""Running a command with plain arguments without Typer (Click and the pydantic behind it).

Importing Typer (its own Click, ``inspect``, ``gettext``...) costs tens of milliseconds at
every start, and its coercion of every parsed parameter through pydantic ``TypeAdapter``\\ s
about 100 ms more: together most of a ``helmforge push`` whose charts are all published
already (``make bench``: ``cli_repush_speedup``). A command declared with this module's
``Argument`` and ``Option`` (plain kinds only: a list of strings, bool flags, strings, paths,
ints within a range) is called directly instead, and ``typer_command`` turns the same
declarations into Typer's for ``--help`` and everything else, so nothing is declared twice.

``call_plain(function, arguments)`` is deliberately narrow: whatever it does not read exactly
as Click would — ``--help``, an unknown or repeated option, ``--``, a value that starts with
``-``, a number out of range, a path Click checks, an environment variable for a flag or a
number — makes it return ``False`` without calling anything, and Typer parses the arguments as
always (help and usage errors stay Typer's).

A command run this way must raise Typer's usage errors (``typer.BadParameter``, imported where
it is raised) before it acts: one raised is answered by running the command again through
Typer, which reports it as usage. ``tests/cli/test_plain_arguments.py`` checks that every
command listed in ``helmforge.cli.main.PLAIN_COMMANDS`` gets exactly the arguments Typer would
give it.
"""

from __future__ import annotations

__all__ = ["Argument", "Option", "call_plain", "parse_plain", "typer_command"]

import errno
import functools
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

_INTEGER = re.compile(r"[+-]?[0-9]+")
_PLAIN_TYPES: tuple[Any, ...] = (str, Path, int, bool, list[str])


@dataclass(frozen=True, slots=True)
class Argument:
    """The command's positional words (one string, or a list of strings), all required."""

    metavar: str
    help: str


@dataclass(frozen=True, slots=True)
class Option:
    """An option ``--name`` (a flag when the parameter is a bool), also read from ``envvar``.

    ``min``/``max`` bound an int; ``dir_okay=False`` makes a path one Click checks (given, it
    goes to Typer)."""

    name: str
    envvar: str
    help: str
    min: int | None = None
    max: int | None = None
    dir_okay: bool = True


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    kind: Any  # str, Path, int, bool or list[str]
    annotation: Any  # as declared, ``Path | None`` included
    declared: Argument | Option
    default: Any

    @property
    def is_argument(self) -> bool:
        return isinstance(self.declared, Argument)


def _plain_kind(annotation: Any) -> Any | None:
    """``str``, ``Path``, ``int``, ``bool`` or ``list[str]`` (optional ones too), else None."""
    if typing.get_origin(annotation) in (typing.Union, type(str | None)):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return None
        annotation = members[0]
    return annotation if annotation in _PLAIN_TYPES else None


@functools.cache
def _parameters(function: Callable[..., Any]) -> tuple[_Parameter, ...] | None:
    """The command's parameters when every one is declared with ``Argument``/``Option`` and
    is plain; ``None`` otherwise."""
    hints = typing.get_type_hints(function, include_extras=True)
    found: list[_Parameter] = []
    for name, parameter in inspect.signature(function).parameters.items():
        hint = hints.get(name)
        if typing.get_origin(hint) is not Annotated:
            return None
        annotation, *extras = typing.get_args(hint)
        declared = [e for e in extras if isinstance(e, Argument | Option)]
        kind = _plain_kind(annotation)
        if len(declared) != 1 or len(extras) != 1 or kind is None:
            return None
        default = parameter.default
        if isinstance(declared[0], Argument):
            if kind not in (str, list[str]) or default is not inspect.Parameter.empty:
                return None  # one required string or list of strings: the arguments taken
        elif kind == list[str] or default is inspect.Parameter.empty or (kind is bool and default):
            return None  # repeated, required and on-by-default options are Typer's
        found.append(_Parameter(name, kind, annotation, declared[0], default))
    if sum(p.is_argument for p in found) > 1:
        return None
    return tuple(found)


def typer_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as Typer registers it: the same parameters, declared with Typer's
    ``Argument``/``Option`` (help, metavar, environment variable, range) made from ours.
    Raises ``TypeError`` for a function that is not plain (``_parameters``)."""
    import typer  # only a command that Typer parses pays for it

    parameters = _parameters(function)
    if parameters is None:
        raise TypeError(f"{function.__name__}: every parameter must be a plain Argument/Option")
    annotations: dict[str, Any] = {}
    signature: list[inspect.Parameter] = []
    for parameter in parameters:
        declared = parameter.declared
        info: Any
        kind_of_parameter: inspect._ParameterKind
        if isinstance(declared, Argument):
            info = typer.Argument(metavar=declared.metavar, help=declared.help, show_default=False)
            kind_of_parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
        else:
            info = typer.Option(
                declared.name,
                envvar=declared.envvar,
                help=declared.help,
                min=declared.min,
                max=declared.max,
                dir_okay=declared.dir_okay,
            )
            kind_of_parameter = inspect.Parameter.KEYWORD_ONLY
        annotations[parameter.name] = Annotated[parameter.annotation, info]
        signature.append(
            inspect.Parameter(
                parameter.name,
                kind_of_parameter,
                default=parameter.default,
                annotation=annotations[parameter.name],
            )
        )

    @functools.wraps(function)
    def command(**keywords: Any) -> Any:
        return function(**keywords)

    command.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    command.__annotations__ = annotations
    return command


def parse_plain(
    function: Callable[..., Any], arguments: Sequence[str], environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """The keyword arguments Typer would call ``function`` with for ``arguments`` (the words
    after the command's name) and ``environ``; ``None`` when Typer must parse them."""
    parameters = _parameters(function)
    if parameters is None:
        return None
    options = {p.declared.name: p for p in parameters if isinstance(p.declared, Option)}
    given: dict[str, Any] = {}
    positional: list[str] = []
    words = list(arguments)
    while words:
        word = words.pop(0)
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        name, equals, inline = word.partition("=")
        parameter = options.get(name)
        if parameter is None or parameter.name in given:
            return None  # --help, -h, --, an unknown or a repeated option: Typer's to answer
        if parameter.kind is bool:
            if equals:
                return None
            given[parameter.name] = True
            continue
        if equals:
            text = inline
        elif words and not words[0].startswith("-"):
            text = words.pop(0)
        else:
            return None
        value = _value(parameter, text)
        if value is None:
            return None
        given[parameter.name] = value
    result: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.is_argument:
            if not positional or (parameter.kind is str and len(positional) != 1):
                return None
            result[parameter.name] = positional[0] if parameter.kind is str else positional
            positional = []
        elif parameter.name in given:
            result[parameter.name] = given[parameter.name]
        else:
            from_environment = _from_environment(parameter, environ)
            if from_environment is _TYPER:
                return None
            result[parameter.name] = (
                parameter.default if from_environment is None else from_environment
            )
    return None if positional else result


_TYPER = object()


def _from_environment(parameter: _Parameter, environ: Mapping[str, str]) -> Any:
    """The value an environment variable gives (``None``: none set; ``_TYPER``: Typer's
    to read, for flags and numbers, whose spellings Click reads its own way)."""
    assert isinstance(parameter.declared, Option)
    text = environ.get(parameter.declared.envvar)
    if text is None:
        return None
    if parameter.kind not in (str, Path) or not text:
        return _TYPER
    return _value(parameter, text) or _TYPER


def _value(parameter: _Parameter, text: str) -> Any | None:
    declared = parameter.declared
    assert isinstance(declared, Option)
    if parameter.kind is str:
        return text
    if parameter.kind is Path:
        return Path(text) if declared.dir_okay else None
    if parameter.kind is int and _INTEGER.fullmatch(text):
        number = int(text)
        low, high = declared.min, declared.max
        if (low is None or number >= low) and (high is None or number <= high):
            return number
    return None


def call_plain(function: Callable[..., Any], arguments: Sequence[str]) -> bool:
    """Run ``function`` on ``arguments`` as Typer would and exit as Typer would (its
    ``typer.Exit`` code, 130 on Ctrl-C); ``False`` when the arguments are Typer's to parse,
    or when the command raised a usage error before acting (Typer then reports it)."""
    keywords = parse_plain(function, arguments, os.environ)
    if keywords is None:
        return False
    try:
        function(**keywords)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        sys.exit(1)
    except Exception as e:
        # Typer's exceptions exist only once the command imported Typer to raise one.
        typer = sys.modules.get("typer")
        if typer is not None and isinstance(e, typer.BadParameter):
            return False
        if typer is not None and isinstance(e, typer.Exit):
            sys.exit(e.exit_code)
        raise
    sys.exit(0)
