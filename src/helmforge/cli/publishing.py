"""``helmforge push`` and ``helmforge versions``: publish charts to OCI and list versions.

Exit codes: 0 done (pushed or unchanged), 1 bad input, conflict, denied or registry failure
(one line on stderr saying why), 2 usage error.
"""

from __future__ import annotations

__all__ = ["register"]

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from helmforge.cli.errors import abort, report_error, reporting_errors
from helmforge.cli.plain_arguments import Argument, Option, typer_command
from helmforge.core.errors import InputError, Location

if TYPE_CHECKING:
    import typer

    # Imported inside the commands: ``helmforge generate`` never pays for the OCI client.
    from helmforge.core.oci.references import Registry
    from helmforge.core.secrets import Secret

# Declared with helmforge.cli.plain_arguments: a push with plain arguments runs without Typer.
PlainHttpOption = Annotated[
    bool,
    Option(
        "--plain-http",
        envvar="HELMFORGE_PLAIN_HTTP",
        help="Talk HTTP instead of HTTPS (a loopback or lab registry only).",
    ),
]
CaFileOption = Annotated[
    Path | None,
    Option(
        "--ca-file",
        envvar="HELMFORGE_CA_FILE",
        help="PEM bundle to trust for the registry's TLS certificate.",
        dir_okay=False,
    ),
]
UsernameOption = Annotated[
    str | None,
    Option(
        "--username",
        envvar="HELMFORGE_USERNAME",
        help="Registry user or robot account (sent byte-exact, e.g. robot$proj+ci).",
    ),
]
PasswordStdinOption = Annotated[
    bool,
    Option(
        "--password-stdin",
        envvar="HELMFORGE_PASSWORD_STDIN",
        help="Read the password from stdin (else HELMFORGE_PASSWORD is used).",
    ),
]


def _skip_httpx_command_line() -> None:
    """Keep ``import httpx`` from importing httpx's own command-line client.

    httpx's package ``__init__`` imports ``httpx._main`` (click, rich, pygments: about half the
    start-up of a push) whenever those are installed, and falls back to a stub on ImportError.
    helmforge never runs that client; a ``None`` entry in ``sys.modules`` makes the import raise
    ImportError (the import system's documented behaviour). Done before the OCI adapter loads.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _password(username: str | None, password_stdin: bool) -> Secret | None:
    from helmforge.core.secrets import Secret

    if password_stdin:
        if username is None:
            abort("--password-stdin needs --username (or HELMFORGE_USERNAME)")
        return Secret(sys.stdin.readline().rstrip("\r\n"))
    if username is None:
        return None
    from_env = os.environ.get("HELMFORGE_PASSWORD")
    if from_env is None:
        abort(f"user {username!r} needs a password: use --password-stdin or HELMFORGE_PASSWORD")
    return Secret(from_env)


def _registry(
    url: str,
    *,
    plain_http: bool,
    ca_file: Path | None,
    username: str | None,
    password_stdin: bool,
) -> Registry:
    from helmforge.core.oci.references import Registry, parse_reference

    with reporting_errors():
        parse_reference(url, source="reference")
        ca_pem = None
        if ca_file is not None:
            try:
                ca_pem = ca_file.read_text()
            except (OSError, UnicodeDecodeError) as e:
                raise InputError(
                    f"cannot read the CA file ({type(e).__name__})", location=Location(str(ca_file))
                ) from None
        return Registry(
            url,
            ca_pem=ca_pem,
            plain_http=plain_http,
            username=username,
            password=_password(username, password_stdin),
        )


def push(
    targets: Annotated[
        list[str],
        Argument(
            metavar="CHART.tgz... oci://HOST[:PORT]/PATH",
            help="One or more chart archives, then the registry path to push them to.",
        ),
    ],
    *,
    plain_http: PlainHttpOption = False,
    ca_file: CaFileOption = None,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
    workers: Annotated[
        int,
        Option(
            "--workers",
            envvar="HELMFORGE_PUSH_WORKERS",
            min=1,
            max=32,
            help="Parallel pushes (half as many more threads check tags ahead of them).",
        ),
    ] = 8,
) -> None:
    """Push chart archives to an OCI registry; identical re-pushes are no-ops."""
    if len(targets) < 2 or not targets[-1].startswith("oci://"):
        import typer  # a usage error: Typer reports it

        raise typer.BadParameter(
            "give at least one CHART.tgz followed by oci://HOST[:PORT]/PATH", param_hint="targets"
        )
    _skip_httpx_command_line()
    from helmforge.cli.principals import local_principal
    from helmforge.services.publishing import load_archive, publish_archives

    registry = _registry(
        targets[-1],
        plain_http=plain_http,
        ca_file=ca_file,
        username=username,
        password_stdin=password_stdin,
    )
    with reporting_errors():
        archives = [load_archive(Path(p)) for p in targets[:-1]]
        results = publish_archives(archives, registry, actor=local_principal(), workers=workers)
    failures = [r for r in results if r.error is not None]
    authority = registry.reference.authority
    sys.stdout.write(
        "".join(
            f"{r.status:<9} {r.chart} {r.version} -> {authority}/{r.repository}:{r.tag} "
            f"{r.manifest_digest}\n"
            for r in results
            if r.error is None
        )
    )
    sys.stdout.flush()
    for failure in failures:
        report_error(str(failure.error))
    if failures:
        raise SystemExit(1)


def versions(
    reference: Annotated[
        str,
        Argument(metavar="oci://HOST[:PORT]/PATH/CHART", help="The chart's repository."),
    ],
    *,
    plain_http: PlainHttpOption = False,
    ca_file: CaFileOption = None,
    username: UsernameOption = None,
    password_stdin: PasswordStdinOption = False,
) -> None:
    """List the published versions of a chart, lowest to highest (SemVer order)."""
    _skip_httpx_command_line()
    from helmforge.services.publishing import list_versions

    registry = _registry(
        reference,
        plain_http=plain_http,
        ca_file=ca_file,
        username=username,
        password_stdin=password_stdin,
    )
    with reporting_errors():
        found = list_versions(registry)
    sys.stdout.write("".join(f"{version}\n" for version in found))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``push`` and ``versions`` to the ``helmforge`` command."""
    app.command("push")(typer_command(push))
    app.command("versions")(typer_command(versions))
