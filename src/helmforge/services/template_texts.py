"""Template texts: validation with problems by line, and a cache of parsed texts.

Used by the template store (saving), the API and the web UI (showing problems), and chart
builds (parsing a stored version once).
"""

from __future__ import annotations

__all__ = [
    "MAX_TEMPLATE_BYTES",
    "ProblemView",
    "check_template_text",
    "parse_cached",
    "parse_valid_text",
]

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.errors import HelmforgeError, InputError, Location, TooLargeError
from helmforge.core.templates.models import Template
from helmforge.core.templates.parsing import parse_template, read_template, validate_template

MAX_TEMPLATE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProblemView:
    """One validation finding, ready for a form or a JSON body (``line`` is 1-based)."""

    message: str
    line: int | None
    path: str | None
    severity: str = "error"


def _problem_views(error: HelmforgeError) -> list[ProblemView]:
    found = error.problems if isinstance(error, InputError) and error.problems else (error,)
    return [
        ProblemView(
            message=problem.message,
            line=problem.location.line if problem.location else None,
            path=problem.location.path if problem.location else None,
        )
        for problem in found
    ]


def check_template_text(
    content: str, *, source: str = "template.yaml", environments: Sequence[str] | None = None
) -> list[ProblemView]:
    """Every problem of a template text (syntax, structure, Kubernetes schemas, and with
    ``environments`` the configured environments), by line.

    Never raises for bad input: an empty list means the template is valid (warnings included
    with ``severity="warning"`` do not make it invalid).
    """
    try:
        parse_valid_text(content, source=source, environments=environments)
    except InputError as error:
        return _problem_views(error)
    return _warnings(content, source=source, environments=environments)


def _warnings(
    content: str, *, source: str, environments: Sequence[str] | None
) -> list[ProblemView]:
    template = parse_template(content, source=source)
    problems = validate_template(
        template,
        schemas=load_schema_set(template.kubernetes_version),
        environments=environments,
    )
    return [
        ProblemView(p.message, p.location.line, p.location.path, p.severity)
        for p in problems
        if not p.is_error
    ]


def parse_valid_text(
    content: str, *, source: str, environments: Sequence[str] | None = None
) -> Template:
    """The parsed template; ``InputError`` with every error (and its line) when invalid.

    Reading problems and schema problems come in one pass: the schema checks run on what
    could be read even when something else could not (a layer's type error shows beside a
    typo elsewhere, not only after it is fixed).
    """
    if len(content.encode("utf-8", "surrogatepass")) > MAX_TEMPLATE_BYTES:
        raise TooLargeError(f"template is larger than {MAX_TEMPLATE_BYTES} bytes")
    template, reading = read_template(content, source=source)
    found = [*reading]
    # The schema checks need the parameters as declared and a Kubernetes version; flawed
    # layers and resources are already left out of ``template`` (read_template).
    flawed_parameters = any(
        (problem.location.path or "").startswith("spec.values")
        for problem in reading
        if problem.location
    )
    if template.kubernetes_version and not flawed_parameters:
        seen = {(str(problem.location), problem.message) for problem in reading}
        try:
            schemas = load_schema_set(
                template.kubernetes_version,
                location=Location(source, path="spec.kubernetesVersion"),
            )
        except InputError as error:
            found.append(error)
        else:
            checked = validate_template(template, schemas=schemas, environments=environments)
            for problem in checked:
                if problem.is_error and (str(problem.location), problem.message) not in seen:
                    found.append(InputError(problem.message, location=problem.location))
    found.sort(key=lambda problem: (problem.location.line or 0) if problem.location else 0)
    if found:
        name = f"{template.name}@{template.version}" if template.name else source
        raise InputError(
            f"template {name} has {len(found)} problem(s): {found[0]}", problems=tuple(found)
        )
    return template


_PARSED_LIMIT = 64
_parsed: dict[str, Template] = {}


def parse_cached(content: str, *, source: str) -> Template:
    """The parsed template of a stored text, cached by the text's digest.

    A text never changes under its digest, so the cache stays valid; chart engines cache per
    ``Template`` object, which makes repeated builds of one version cheap.
    """
    key = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
    template = _parsed.get(key)
    if template is None:
        template = parse_template(content, source=source)
        if len(_parsed) >= _PARSED_LIMIT:
            _parsed.pop(next(iter(_parsed)), None)
        _parsed[key] = template
    return template
