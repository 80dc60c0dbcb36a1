"""``template init``: objects from files, folders, stdin or the catalog -> a template file.

The objects are cleaned like an import, turned into a template (``core.template_bootstrap``),
merged with the creator's edits when the file exists (``core.template_merges``), checked
(``parse_template`` + ``validate_template``) and only then written, atomically. Beside the
template, ``.NAME.yaml.init-base`` keeps what init generated, the base of the next merge.
"""

from __future__ import annotations

__all__ = [
    "InitResult",
    "ObjectOrigin",
    "build_template_text",
    "collect_objects",
    "init_template_file",
]

import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from helmforge.adapters.kubernetes_schemas import load_schema_set
from helmforge.core.access.principals import Principal
from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import InputError, Location
from helmforge.core.manifests.cleaning import clean_object
from helmforge.core.manifests.reading import FieldLines, ManifestSet, SkippedDocument
from helmforge.core.templates.bootstrap import bootstrap_template
from helmforge.core.templates.merges import merge_templates
from helmforge.core.templates.models import FieldPath, Problem, Template, dotted_path
from helmforge.core.templates.parsing import parse_template, validate_template
from helmforge.core.yaml_codec import dump_yaml, load_single
from helmforge.services import catalog
from helmforge.services.stores import Store

_CATALOG_PREFIX = "catalog:"
_UNUSED = "is declared but no resource uses it"


@dataclass(slots=True)
class InitResult:
    """What ``init`` wrote and what the creator should know."""

    path: Path
    skipped: list[SkippedDocument] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    not_carried_over: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ObjectOrigin:
    """Where an input object came from: its source, the line its document starts on (``None``
    from the catalog), ``Kind/name``, and where each of its fields is when read from a file."""

    source: str
    line: int | None
    reference: str
    lines: FieldLines | None = None

    def problem(self, field_path: str | FieldPath, message: str) -> InputError:
        """``message`` about the field at ``field_path`` of the object, at the field's line
        (or its nearest ancestor's in the input, or the object's first line)."""
        dotted = field_path if isinstance(field_path, str) else dotted_path(field_path)
        line = self.line
        if self.lines is not None:
            found = (
                self.lines.line_of_dotted(field_path)
                if isinstance(field_path, str)
                else self.lines.line_of(field_path)
            )
            line = found if found is not None else line
        where = f"{self.reference} {dotted}" if dotted else self.reference
        return InputError(message, location=Location(self.source, line, where))


def collect_objects(
    from_paths: Sequence[str],
    *,
    stdin: BinaryIO | None,
    open_store: Callable[[], Store] | None,
    actor: Principal,
) -> tuple[list[dict[str, Any]], list[SkippedDocument], list[ObjectOrigin]]:
    """Cleaned objects of every ``--from`` entry, first definition of each identity kept.

    Entries are paths (files, folders, ``-``) or ``catalog:KIND/[NAMESPACE/]NAME``. Beside
    the objects: the documents skipped, and where each object came from (file, line, kind/name).
    """
    manifests = ManifestSet()
    paths = [entry for entry in from_paths if not entry.startswith(_CATALOG_PREFIX)]
    if paths:
        manifests = catalog.parse_sources(catalog.read_paths(paths, stdin=stdin))
    entries: list[tuple[dict[str, Any], str, int, FieldLines | None]] = [
        (item.body, item.source, item.line, item.lines) for item in manifests.objects
    ]
    references = [entry[len(_CATALOG_PREFIX) :] for entry in from_paths if entry not in paths]
    if references:
        if open_store is None:
            raise InputError("catalog entries need a catalog database")
        store = open_store()
        try:
            for reference in references:
                found = catalog.get_object(store.sessions, reference, actor=actor)
                entries.append((found.body, f"{_CATALOG_PREFIX}{reference}", 0, None))
        finally:
            store.engine.dispose()
    objects: list[dict[str, Any]] = []
    origins: list[ObjectOrigin] = []
    skipped = list(manifests.skipped)
    first: dict[tuple[str, str, str], str] = {}
    for body, source, line, lines in entries:
        metadata = body.get("metadata") or {}
        identity = (str(body.get("kind")), str(metadata.get("namespace")), str(metadata["name"]))
        where = f"{source}:{line}" if line else source
        if identity in first:
            skipped.append(
                SkippedDocument(
                    source,
                    line,
                    f"{identity[0]}/{identity[2]} again; the one at {first[identity]} is used",
                )
            )
            continue
        first[identity] = where
        objects.append(clean_object(body).body)
        origins.append(ObjectOrigin(source, line or None, f"{identity[0]}/{identity[2]}", lines))
    if not objects:
        why = "".join(f"; {document}" for document in skipped[:3])
        more = f" (and {len(skipped) - 3} more skipped)" if len(skipped) > 3 else ""
        raise InputError(f"no Kubernetes objects found in the input (--from){why}{more}")
    return objects, skipped, origins


def build_template_text(
    objects: Sequence[Mapping[str, Any]],
    *,
    name: str,
    kubernetes_version: str,
    source: str,
    current: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
    origins: Sequence[ObjectOrigin] = (),
) -> tuple[str, str, InitResult]:
    """(template text, base text, result notes) for ``objects``; checked before returning.

    Raises ``InputError`` listing every problem of the template when it does not validate;
    with ``origins`` (where each object came from) and no creator's template to merge with,
    each problem names the input object, not the template that was never written.
    """
    if not is_dns_label(name):
        raise InputError(
            f"template name {name!r} is not a DNS-1123 label (lower-case letters, digits, '-')"
        )
    generated = bootstrap_template(objects, name=name, kubernetes_version=kubernetes_version)
    result = InitResult(Path(source), notes=list(generated.notes))
    document = generated.document
    if current is not None:
        merged = merge_templates(base=base, current=current, generated=generated.document)
        document = merged.document
        result.not_carried_over.extend(merged.not_carried_over)
    text = _checked_text(
        document,
        source=source,
        kubernetes_version=kubernetes_version,
        result=result,
        origins=origins if current is None else (),
    )
    return text, dump_yaml(generated.document), result


def _checked_text(
    document: dict[str, Any],
    *,
    source: str,
    kubernetes_version: str,
    result: InitResult,
    origins: Sequence[ObjectOrigin] = (),
) -> str:
    for _attempt in range(3):
        text = dump_yaml(document)
        try:
            template = parse_template(text, source=source)
        except InputError as error:
            unused = [p for p in error.problems if _UNUSED in str(p) and p.location]
            if not unused or len(unused) != len(error.problems):
                raise
            for problem in unused:
                dotted = problem.location.path if problem.location else None
                if dotted and _drop(document, dotted.split(".")):
                    result.not_carried_over.append(
                        f"{dotted}: parameter dropped, no resource uses it any more"
                    )
            continue
        problems = [
            problem
            for problem in validate_template(
                template, schemas=load_schema_set(template.kubernetes_version or kubernetes_version)
            )
            if problem.is_error
        ]
        if problems and origins:
            found = tuple(_in_input(problem, template, origins) for problem in problems)
            raise InputError(
                "the input cannot become a template: " + found[0].message + _more(len(found) - 1),
                location=found[0].location,
                problems=found,
            )
        if problems:
            raise InputError(
                f"the template made from the input does not validate: {problems[0]}",
                location=Location(source),
                problems=tuple(InputError(p.message, location=p.location) for p in problems),
            )
        return text
    raise InputError("the merged template still has unused parameters", location=Location(source))


_RESOURCE_PATH = re.compile(r"spec\.resources\[(\d+)\]\.manifest\.?(.*)\Z")
_DEFAULT_PATH = re.compile(r"spec\.values\.(.+?)\.default(?:[.\[].*)?\Z")


def _in_input(problem: Problem, template: Template, origins: Sequence[ObjectOrigin]) -> InputError:
    """``problem`` of the bootstrapped template, located at the input field it came from."""
    dotted = problem.location.path or ""
    if found := _RESOURCE_PATH.match(dotted):
        index, field_path = int(found[1]), found[2]
        if index < len(origins):
            return origins[index].problem(field_path, problem.message)
    if found := _DEFAULT_PATH.match(dotted):
        for binding in template.bindings:
            if binding.parameter == found[1]:
                resource = next(r for r in template.resources if r.id == binding.resource_id)
                if resource.index < len(origins):
                    return origins[resource.index].problem(binding.path, problem.message)
    return InputError(problem.message, location=problem.location)


def _more(count: int) -> str:
    return "" if not count else f" (and {count} more problem{'s' if count > 1 else ''})"


def _drop(document: dict[str, Any], path: list[str]) -> bool:
    node: Any = document
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and path[-1] in node:
        del node[path[-1]]
        return True
    return False


def _base_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.init-base")


def _read_yaml(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data = load_single(path.read_bytes(), source=str(path)).data
    if not isinstance(data, dict):
        raise InputError("expected a template (a mapping)", location=Location(str(path)))
    return data


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp, which creates 0600: a template is an ordinary file whose mode the umask
    # decides (0644 under umask 022), or keeps the mode of the file it replaces.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            if path.exists():
                os.fchmod(stream.fileno(), stat.S_IMODE(path.stat().st_mode))
            stream.write(text)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def init_template_file(
    from_paths: Sequence[str],
    *,
    name: str,
    out: Path,
    kubernetes_version: str,
    stdin: BinaryIO | None,
    open_store: Callable[[], Store] | None,
    actor: Principal,
) -> InitResult:
    """Create ``out`` from the objects of ``from_paths``, or update it keeping the edits.

    Nothing is written when anything fails (``InputError`` names the problem).
    """
    objects, skipped, origins = collect_objects(
        from_paths, stdin=stdin, open_store=open_store, actor=actor
    )
    current = _read_yaml(out)
    base = _read_yaml(_base_path(out)) if current is not None else None
    text, base_text, result = build_template_text(
        objects,
        name=name,
        kubernetes_version=kubernetes_version,
        source=str(out),
        current=current,
        base=base,
        origins=origins,
    )
    _write_atomically(out, text)
    _write_atomically(_base_path(out), base_text)
    result.path = out
    result.skipped = skipped
    return result
