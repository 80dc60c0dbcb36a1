"""Where ``helmforge generate`` gets its template: a file, the local store, or a server's store.

``TEMPLATE`` on the command line is a file path or ``NAME[@VERSION]``. An existing path always
wins; a text that looks like a path (a separator, or a .yaml/.yml/.json suffix) but does not
exist is a missing file; anything else is a store reference. Without ``@VERSION`` the newest
published version is used. A draft is never used, and a deprecated version only when named
explicitly (with a warning for the caller to print).

A stored template is parsed exactly as its file would be, so a chart generated from the store
is byte-identical to one generated from the same YAML file.

Only the light modules are imported at the top: a file-based ``generate`` must not pay for
SQLAlchemy or httpx, which are imported when a store is actually read.
"""

from __future__ import annotations

__all__ = [
    "ResolvedTemplate",
    "TemplateReference",
    "choose_version",
    "classify_template_argument",
    "load_from_local_store",
    "load_from_server",
    "parse_template_reference",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from helmforge.core.contexts import is_dns_label
from helmforge.core.errors import ConflictError, InputError, NotFoundError
from helmforge.core.templates.models import Template
from helmforge.core.templates.parsing import parse_template
from helmforge.core.versions import is_semver, semver_key

DRAFT, PUBLISHED, DEPRECATED = "draft", "published", "deprecated"
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class TemplateReference:
    """``NAME[@VERSION]`` of a stored template; ``version`` ``None`` means newest published."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class ResolvedTemplate:
    """A stored template ready to render: which version was chosen, and any warning."""

    template: Template
    name: str
    version: str
    warning: str | None = None


def parse_template_reference(text: str) -> TemplateReference:
    """Split and check ``NAME[@VERSION]``; raises ``InputError`` naming what is wrong."""
    name, at, version = text.partition("@")
    shown = text[:200]
    if not name:
        raise InputError(f"template {shown!r}: the name before '@' is empty")
    if not is_dns_label(name):
        raise InputError(
            f"template {shown!r}: name {name[:100]!r} is not a DNS-1123 label (lower-case "
            "letters, digits and '-', starting and ending with a letter or digit, at most 63 "
            "characters)"
        )
    if not at:
        return TemplateReference(name)
    if not version:
        raise InputError(f"template {shown!r}: the version after '@' is empty (NAME@1.2.0)")
    if not is_semver(version):
        raise InputError(
            f"template {shown!r}: version {version[:100]!r} is not a SemVer version such as 1.2.0"
        )
    return TemplateReference(name, version)


def classify_template_argument(text: str) -> Path | TemplateReference:
    """A file path or a store reference for the ``TEMPLATE`` argument.

    Raises ``InputError`` for a path-like text naming no file, and for a bad reference.
    """
    path = Path(text)
    if text and path.exists():
        return path
    looks_like_path = "/" in text or "\\" in text or text.lower().endswith(_FILE_SUFFIXES)
    if looks_like_path or not text:
        raise InputError(f"template file {text!r} not found")
    return parse_template_reference(text)


def _listing(versions: Sequence[str]) -> str:
    return ", ".join(versions) if versions else "none"


def choose_version(
    reference: TemplateReference, versions: Mapping[str, str]
) -> tuple[str, str | None]:
    """The version to use among ``versions`` (version -> status), and a warning or ``None``.

    Raises ``NotFoundError`` for an unknown version or when nothing is published, and
    ``ConflictError`` for a draft; both list the published versions.
    """
    published = sorted(
        (version for version, status in versions.items() if status == PUBLISHED),
        key=semver_key,
    )
    available = f"published versions of {reference.name}: {_listing(published)}"
    if reference.version is None:
        if not published:
            raise NotFoundError(f"template {reference.name} has no published version; {available}")
        return published[-1], None
    status = versions.get(reference.version)
    if status is None:
        raise NotFoundError(f"template {reference} does not exist; {available}")
    if status == DEPRECATED:
        newest = f"; the newest published is {published[-1]}" if published else ""
        return reference.version, f"template {reference} is deprecated{newest}"
    if status != PUBLISHED:
        raise ConflictError(
            f"template {reference} is a {status}, usable only once published; {available}"
        )
    return reference.version, None


def _parsed(content: str | bytes, name: str, version: str) -> Template:
    return parse_template(content, source=f"{name}@{version}")


def _published_names(summaries: Sequence[tuple[str, str | None]]) -> str:
    names = [f"{name}@{latest}" for name, latest in summaries if latest is not None]
    return _listing(sorted(names))


def load_from_local_store(
    reference: TemplateReference, *, environ: Mapping[str, str]
) -> ResolvedTemplate:
    """Read ``reference`` from the store of HELMFORGE_DATABASE_URL (default: the SQLite file
    in the data directory), acting as the local system like ``helmforge users``.

    Raises ``NotFoundError`` (no store, template or version), ``ConflictError`` (a draft),
    ``InputError`` (bad settings) and ``ExternalServiceError`` (database failure).
    """
    from helmforge.adapters.storage.database import database_url_for_directory, redacted_url
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import template_store
    from helmforge.services.settings import load_settings
    from helmforge.services.stores import open_store

    settings = load_settings(environ)
    default_file = settings.data_dir / "helmforge.db"
    if (
        settings.database_url == database_url_for_directory(settings.data_dir)
        and not default_file.is_file()
    ):
        raise NotFoundError(
            f"template {reference}: there is no local template store at {default_file}; "
            "give a template file, --server URL, or set HELMFORGE_DATABASE_URL"
        )
    where = redacted_url(settings.database_url)
    store = open_store(settings)
    try:
        try:
            views = template_store.list_versions(store.sessions, reference.name, actor=SYSTEM)
        except NotFoundError:
            summaries = template_store.list_templates(store.sessions, actor=SYSTEM)
            known = _published_names([(s.name, s.latest_published) for s in summaries])
            raise NotFoundError(
                f"template {reference.name} does not exist in the store {where}; "
                f"published templates: {known}"
            ) from None
        version, warning = choose_version(reference, {v.version: v.status for v in views})
        content = next(view.content for view in views if view.version == version)
    finally:
        store.engine.dispose()
    return ResolvedTemplate(
        _parsed(content, reference.name, version), reference.name, version, warning
    )


def load_from_server(reference: TemplateReference, *, server: str, token: str) -> ResolvedTemplate:
    """Fetch the YAML of ``reference`` from the helmforge server at ``server`` with ``token``.

    Raises ``InputError`` (no token, bad URL), ``NotFoundError``/``ConflictError`` as
    ``load_from_local_store``, ``AuthenticationError``/``PermissionDeniedError`` (token refused)
    and ``ExternalServiceError`` (server unreachable). The token never appears in an error.
    """
    from helmforge.adapters.server_clients import ServerClient

    if not token:
        raise InputError("no API token: set HELMFORGE_TOKEN (create one: helmforge tokens create)")
    with ServerClient(server, token=token) as client:
        try:
            listed = client.template_versions(reference.name)
        except NotFoundError:
            summaries = client.templates()
            known = _published_names(
                [(str(s.get("name")), s.get("latest_published")) for s in summaries]
            )
            raise NotFoundError(
                f"template {reference.name} does not exist on {client.base_url}; "
                f"published templates: {known}"
            ) from None
        versions = {str(item.get("version")): str(item.get("status")) for item in listed}
        version, warning = choose_version(reference, versions)
        content = client.template_yaml(reference.name, version)
    return ResolvedTemplate(
        _parsed(content, reference.name, version), reference.name, version, warning
    )
