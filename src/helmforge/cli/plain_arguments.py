"""Running a command with plain arguments without Typer's parser (and the pydantic behind it).

Typer 0.29 coerces every parameter it parses through a pydantic ``TypeAdapter``: importing
pydantic and building the adapters costs about 100 ms of CPU at every start, which is a third
of a ``helmforge push`` whose charts are all published already (``make bench``:
``cli_repush_speedup``). A command whose parameters are all plain kinds (a list of strings,
bool flags, strings, paths, ints within a range) can be called directly instead.

``call_plain(function, arguments)`` reads the command's own Typer declarations (the
``Annotated[..., typer.Option(...)]`` of its signature: option names, environment variables,
defaults, ranges), so nothing is declared twice. It is deliberately narrow: whatever it does
not understand exactly as Click would — ``--help``, an unknown or repeated option, ``--``, a
value that starts with ``-``, a number out of range, a path option that Click checks, an
environment variable for a flag or a number — makes it return ``False`` without calling
anything, and Typer parses the arguments as always (help and usage errors stay Typer's).

A command run this way must raise Typer's usage errors (``typer.BadParameter``) before it acts:
one raised is answered by running the command again through Typer, which reports it as usage.
``tests/cli/test_plain_arguments.py`` checks that every command listed in
``helmforge.cli.main.PLAIN_COMMANDS`` gets exactly the arguments Typer would give it.
"""

from __future__ import annotations

__all__ = ["call_plain", "parse_plain"]

import errno
import os
import re
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.models import ArgumentInfo, OptionInfo, ParameterInfo
from typer.utils import get_params_from_function

_INTEGER = re.compile(r"[+-]?[0-9]+")
_PLAIN_TYPES: tuple[Any, ...] = (str, Path, int, bool, list[str])


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    kind: Any  # str, Path, int, bool or list[str]
    info: ParameterInfo
    default: Any

    @property
    def is_argument(self) -> bool:
        return isinstance(self.info, ArgumentInfo)

    @property
    def checked_path(self) -> bool:
        """A path Click checks (exists, file or folder, ...): given, it goes to Typer."""
        info = self.info
        return self.kind is Path and (
            info.exists
            or not info.file_okay
            or not info.dir_okay
            or info.writable
            or not info.readable
            or info.resolve_path
            or info.allow_dash
            or info.path_type is not None
        )

    def envvars(self) -> tuple[str, ...]:
        envvar = self.info.envvar
        if envvar is None:
            return ()
        return (envvar,) if isinstance(envvar, str) else tuple(envvar)


def _plain_kind(annotation: Any) -> Any | None:
    """``str``, ``Path``, ``int``, ``bool`` or ``list[str]`` (optional ones too), else None."""
    if typing.get_origin(annotation) in (typing.Union, type(str | None)):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return None
        annotation = members[0]
    return annotation if annotation in _PLAIN_TYPES else None


def _is_plain_info(info: ParameterInfo) -> bool:
    if (
        info.callback is not None
        or info.is_eager
        or not info.expose_value
        or info.parser is not None
        or info.default_factory is not None
        or info.clamp
    ):
        return False
    if isinstance(info, OptionInfo):
        declarations = info.param_decls or ()
        return (
            bool(declarations)
            and all(d.startswith("--") and "/" not in d for d in declarations)
            and not info.prompt
            and not info.count
            and getattr(info, "flag_value", None) is None
        )
    return isinstance(info, ArgumentInfo) and info.envvar is None


def _parameters(function: Callable[..., Any]) -> list[_Parameter] | None:
    """The command's parameters as Typer reads them (``typer.utils``) when every one of them
    is plain; ``None`` otherwise."""
    found: list[_Parameter] = []
    for name, meta in get_params_from_function(function).items():
        info = meta.default
        kind = _plain_kind(meta.annotation)
        if not isinstance(info, ParameterInfo) or kind is None or not _is_plain_info(info):
            return None
        if isinstance(info, ArgumentInfo):
            if kind not in (str, list[str]) or info.default is not ...:
                return None  # one required string or list of strings: the arguments taken
        elif kind == list[str] or info.default is ... or (kind is bool and info.default):
            return None  # repeated, required and on-by-default options are Typer's
        found.append(_Parameter(name, kind, info, info.default))
    if sum(p.is_argument for p in found) > 1:
        return None
    return found


def parse_plain(
    function: Callable[..., Any], arguments: Sequence[str], environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """The keyword arguments Typer would call ``function`` with for ``arguments`` (the words
    after the command's name) and ``environ``; ``None`` when Typer must parse them."""
    parameters = _parameters(function)
    if parameters is None:
        return None
    options = {
        declaration: parameter
        for parameter in parameters
        if not parameter.is_argument
        for declaration in parameter.info.param_decls or ()
    }
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
    for envvar in parameter.envvars():
        text = environ.get(envvar)
        if text is None:
            continue
        if parameter.kind not in (str, Path) or not text:
            return _TYPER
        return _value(parameter, text) or _TYPER
    return None


def _value(parameter: _Parameter, text: str) -> Any | None:
    if parameter.kind is str:
        return text
    if parameter.kind is Path:
        return None if parameter.checked_path else Path(text)
    if parameter.kind is int and _INTEGER.fullmatch(text):
        number = int(text)
        low, high = parameter.info.min, parameter.info.max
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
    except typer.BadParameter:
        return False
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        sys.exit(1)
    sys.exit(0)
