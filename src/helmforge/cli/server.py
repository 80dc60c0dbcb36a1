"""``helmforge serve``, ``helmforge users ...``, ``helmforge tokens ...`` and
``helmforge build --server URL``.

``users`` and ``tokens`` act directly on the store named by HELMFORGE_DATABASE_URL (or the
SQLite file in the data directory), as the local system: whoever may read that database is
its administrator. ``build`` works against a running server with the token in HELMFORGE_TOKEN.
"""

from __future__ import annotations

__all__ = ["register"]

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from helmforge.cli.errors import abort, reporting_errors
from helmforge.cli.groups import command_group
from helmforge.cli.stores import local_sessions

if TYPE_CHECKING:
    pass

users_app = command_group(help_text="Local users of the helmforge server.")
tokens_app = command_group(help_text="API tokens of the helmforge server.")


def serve(
    *,
    host: Annotated[
        str, typer.Option("--host", envvar="HELMFORGE_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", envvar="HELMFORGE_PORT", min=1, max=65535, help="TCP port."),
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            envvar="HELMFORGE_WORKERS",
            min=1,
            max=64,
            help="Worker processes (each a full server; they share the database).",
        ),
    ] = 1,
) -> None:
    """Run the helmforge server (REST API and web UI) on http://HOST:PORT.

    The database (HELMFORGE_DATABASE_URL, default: SQLite in HELMFORGE_DATA_DIR) is created
    and migrated on start; the first start prints the admin's generated password (to be
    changed at the first sign-in).
    """
    if workers > 1:
        # The store is prepared once, by `helmforge migrate` in a process of its own, before
        # the workers start: this supervising process loads neither the application nor the
        # migrations, and every worker only connects.
        migration = [sys.executable, "-m", "helmforge.cli.main", "migrate"]
        prepared = subprocess.run(migration, check=False)  # noqa: S603 (this interpreter)
        if prepared.returncode != 0:
            raise typer.Exit(prepared.returncode)
        from helmforge.server.workers import supervise

        raise typer.Exit(supervise(host=host, port=port, workers=workers))
    import uvicorn

    from helmforge.server.app import create_app
    from helmforge.server.uvicorn_options import uvicorn_options
    from helmforge.services.settings import load_settings

    with reporting_errors():
        app = create_app(load_settings(os.environ))
    typer.echo(f"helmforge: serving on http://{host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, **uvicorn_options())


def migrate() -> None:
    """Create or upgrade the server's database to the newest schema, create the first admin
    when there is no user (printing their generated password, once) and seed the example
    template. `serve` does this itself; run it alone before starting several servers on one
    database (a Kubernetes Job, say)."""
    from helmforge.server.app import print_first_admin
    from helmforge.services import jobs
    from helmforge.services.registries import secret_key_for
    from helmforge.services.settings import load_settings
    from helmforge.services.stores import open_store, prepare_store

    with reporting_errors():
        settings = load_settings(os.environ)
        secret_key_for(settings)  # a bad key fails here, before any server runs
        store = open_store(settings)
        try:
            password = prepare_store(store, seed_examples=settings.seed_examples)
            jobs.prepare_queue(store.sessions)  # PostgreSQL: the fleet jobs' queue schema
        finally:
            store.engine.dispose()
    if password is not None:
        print_first_admin(password)


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        envvar="HELMFORGE_PASSWORD_STDIN",
        help="Read the password from stdin; otherwise one is generated and printed once.",
    ),
]


def _new_password(*, from_stdin: bool) -> str:
    """The password read from stdin's first line, or a generated one."""
    from helmforge.services import accounts

    if not from_stdin:
        return accounts.generate_password()
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        abort("no password on stdin")
    return password


@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="User name (lower-case, digits, '.', '_', '-').")],
    *,
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            envvar="HELMFORGE_ROLE",
            help="A built-in role, bound at every scope (*/*/*/*): admin, template-creator, "
            "template-user, operator, developer, approver or auditor (creator and user are "
            "the older names of template-creator and template-user). Without it the user "
            "holds no binding yet (helmforge bindings add).",
        ),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a local user."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    with reporting_errors():
        password = _new_password(from_stdin=password_stdin)
        with local_sessions() as sessions:
            user = accounts.create_user(sessions, name, role=role, password=password, actor=SYSTEM)
    held = user.role or "no binding yet"
    typer.echo(f"created user {user.name} ({held})", err=True)
    if not password_stdin:
        typer.echo(password)


@users_app.command("list")
def list_users() -> None:
    """List local users."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    with reporting_errors(), local_sessions() as sessions:
        for user in accounts.list_users(sessions, actor=SYSTEM):
            state = " (disabled)" if user.disabled else ""
            typer.echo(f"{user.name}\t{user.role}{state}")


@users_app.command("set-password")
def set_password(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    *,
    password_stdin: PasswordStdin = False,
    revoke_tokens: Annotated[
        bool,
        typer.Option(
            "--revoke-tokens",
            envvar="HELMFORGE_REVOKE_TOKENS",
            help="Also revoke every API token of the user (after a compromise).",
        ),
    ] = False,
) -> None:
    """Set a user's password (as an admin); they must change it at their next sign-in, and
    their browsers are signed out (with --revoke-tokens, their API tokens stop working too)."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    with reporting_errors():
        password = _new_password(from_stdin=password_stdin)
        with local_sessions() as sessions:
            revoked = accounts.set_password(
                sessions, name, password=password, actor=SYSTEM, revoke_tokens=revoke_tokens
            )
    typer.echo(f"set the password of {name}; they must change it when they sign in", err=True)
    if revoke_tokens:
        typer.echo(f"revoked {revoked} API token(s) of {name}", err=True)
    if not password_stdin:
        typer.echo(password)


@users_app.command("sign-out")
def sign_out_user(
    name: Annotated[str, typer.Argument(help="The user to sign out (local or NAME@sso).")],
    *,
    revoke_tokens: Annotated[
        bool,
        typer.Option(
            "--revoke-tokens",
            envvar="HELMFORGE_REVOKE_TOKENS",
            help="Also revoke every API token of the user.",
        ),
    ] = False,
) -> None:
    """End every web session of a user (as an admin); with --revoke-tokens their API tokens
    stop working too. For an SSO user, who has no password here, this is what applies."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import user_sign_outs

    with reporting_errors(), local_sessions() as sessions:
        done = user_sign_outs.sign_out_user(
            sessions, name, actor=SYSTEM, revoke_tokens=revoke_tokens
        )
    typer.echo(
        f"signed out {done.user}: {done.sessions_closed} web session(s) ended, "
        f"{done.tokens_revoked} API token(s) revoked",
        err=True,
    )


@tokens_app.command("create")
def create_token(
    *,
    user: Annotated[
        str, typer.Option("--user", envvar="HELMFORGE_USER", help="The user it acts as.")
    ],
    label: Annotated[
        str, typer.Option("--label", envvar="HELMFORGE_TOKEN_LABEL", help="What it is for.")
    ] = "",
    binding: Annotated[
        list[int] | None,
        typer.Option(
            "--binding",
            envvar="HELMFORGE_TOKEN_BINDINGS",
            help="Act with only this binding of the user (repeatable; default: all of them).",
        ),
    ] = None,
) -> None:
    """Create an API token and print it, once (only its hash is stored)."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    with reporting_errors(), local_sessions() as sessions:
        created = accounts.create_token(
            sessions, user=user, label=label, actor=SYSTEM, bindings=binding or None
        )
    typer.echo(f"created token {created.view.id} for {user}; it is shown only now", err=True)
    typer.echo(created.token)


@tokens_app.command("list")
def list_tokens() -> None:
    """List API tokens (id, user, prefix, label, revoked) without their secrets."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    with reporting_errors(), local_sessions() as sessions:
        for token in accounts.list_tokens(sessions, actor=SYSTEM):
            revoked = f"revoked {token.revoked_at.isoformat()}" if token.revoked_at else "active"
            typer.echo(f"{token.id}\t{token.user}\thf_{token.prefix}_…\t{revoked}\t{token.label}")


@tokens_app.command("revoke")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's id (helmforge tokens list).")],
) -> None:
    """Revoke an API token; it stops working at once."""
    from helmforge.core.access.principals import SYSTEM
    from helmforge.services import accounts

    with reporting_errors(), local_sessions() as sessions:
        accounts.revoke_token(sessions, token_id, actor=SYSTEM)
    typer.echo(f"revoked token {token_id}", err=True)


def build(
    template: Annotated[str, typer.Argument(help="NAME[@VERSION] of a published template.")],
    *,
    server: Annotated[str, typer.Option("--server", envvar="HELMFORGE_SERVER", help="Server URL.")],
    out: Annotated[
        Path,
        typer.Option("--out", envvar="HELMFORGE_OUT", file_okay=False, help="Folder for the .tgz."),
    ],
    product: Annotated[str, typer.Option("--product", envvar="HELMFORGE_PRODUCT")],
    customer: Annotated[str, typer.Option("--customer", envvar="HELMFORGE_CUSTOMER")],
    environment: Annotated[str, typer.Option("--environment", envvar="HELMFORGE_ENVIRONMENT")],
    instance: Annotated[str, typer.Option("--instance", envvar="HELMFORGE_INSTANCE")],
    version: Annotated[str, typer.Option("--version", envvar="HELMFORGE_VERSION")],
    values: Annotated[
        list[Path] | None,
        typer.Option(
            "-f",
            "--values",
            envvar="HELMFORGE_VALUES",
            help="Values file(s) with overrides, merged in order.",
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            envvar="HELMFORGE_SET",
            help="PATH=VALUE override (Helm syntax), after the files.",
        ),
    ] = None,
    chart_version: Annotated[
        str | None, typer.Option("--chart-version", envvar="HELMFORGE_CHART_VERSION")
    ] = None,
) -> None:
    """Build a chart on a helmforge server (recorded there) and download its .tgz.

    The token comes from HELMFORGE_TOKEN. Prints the archive's path.
    """
    from helmforge.services.overrides import build_overrides
    from helmforge.services.remote_builds import build_on_server

    with reporting_errors():
        overrides = build_overrides(value_files=values or [], assignments=assignments or [])
        path = build_on_server(
            server=server,
            token=os.environ.get("HELMFORGE_TOKEN", ""),
            template=template,
            context={
                "product": product,
                "customer": customer,
                "environment": environment,
                "instance": instance,
                "version": version,
            },
            values=overrides,
            chart_version=chart_version,
            out_dir=out,
        )
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add serve, migrate, users, tokens and build to the ``helmforge`` application."""
    app.command("serve")(serve)
    app.command("migrate")(migrate)
    app.command("build")(build)
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
