"""``helmforge bindings ...``, ``policy ...``, ``can`` and ``changes ...`` (DESIGN §9).

``bindings``, ``policy`` and ``can`` act directly on the store named by HELMFORGE_DATABASE_URL
(or the SQLite file in the data directory), as whoever runs them (``HELMFORGE_ACTOR`` or the
login, recorded in the audit log): reaching the database is being its administrator, as for
``helmforge users``. ``can`` is offline and changes nothing; like ``argocd admin settings rbac
can`` it answers ``yes`` or ``no`` with the line that decided, and exits 0 for yes, 1 for no.
``changes`` works against a running server with the token in HELMFORGE_TOKEN, so the server
decides who may approve (never the requester).
"""

from __future__ import annotations

__all__ = ["register"]

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from helmforge.cli.errors import reporting_errors
from helmforge.cli.groups import command_group
from helmforge.cli.stores import local_sessions

if TYPE_CHECKING:
    pass

bindings_app = command_group(help_text="Role bindings: who holds which role where.")
policy_app = command_group(help_text="The whole access policy as Argo CD-style CSV.")
changes_app = command_group(help_text="Change requests waiting for approval, on a server.")


@bindings_app.command("add")
def add_binding(
    subject: Annotated[str, typer.Argument(help="user:NAME or group:NAME (an SSO group).")],
    role: Annotated[
        str,
        typer.Argument(
            help="admin, template-creator, template-user, operator, developer, approver, "
            "auditor, or a role the policy defines."
        ),
    ],
    scope: Annotated[
        str,
        typer.Argument(
            help="PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE (each a name or *), or a template "
            "name or * for template roles."
        ),
    ],
) -> None:
    """Bind ROLE to SUBJECT within SCOPE; prints the new binding's id."""
    from helmforge.cli.principals import local_principal
    from helmforge.services import access

    with reporting_errors(), local_sessions() as sessions:
        view = access.add_binding(
            sessions, subject=subject, role=role, scope=scope, actor=local_principal()
        )
    typer.echo(f"bound {view.subject} to {view.role} at {view.scope}", err=True)
    typer.echo(str(view.id))


@bindings_app.command("list")
def list_bindings(
    subject: Annotated[
        str | None,
        typer.Option("--subject", envvar="HELMFORGE_SUBJECT", help="Only this subject's."),
    ] = None,
) -> None:
    """List bindings: id, subject, role, scope, who created it, tab-separated."""
    from helmforge.cli.principals import local_principal
    from helmforge.services import access

    with reporting_errors(), local_sessions() as sessions:
        views = access.list_bindings(sessions, actor=local_principal(), subject=subject)
    for view in views:
        typer.echo(f"{view.id}\t{view.subject}\t{view.role}\t{view.scope}\t{view.created_by}")


@bindings_app.command("remove")
def remove_binding(
    binding_id: Annotated[int, typer.Argument(help="The binding's id (helmforge bindings list).")],
) -> None:
    """Remove one binding."""
    from helmforge.cli.principals import local_principal
    from helmforge.services import access

    with reporting_errors(), local_sessions() as sessions:
        access.remove_binding(sessions, binding_id, actor=local_principal())
    typer.echo(f"removed binding {binding_id}", err=True)


@policy_app.command("import")
def import_policy(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The policy CSV ('-' reads stdin).")],
) -> None:
    """Replace every binding and rule with FILE, all at once or not at all (a bad line names
    its number and changes nothing; a policy without an admin is refused)."""
    from helmforge.cli.principals import local_principal
    from helmforge.services import access

    with reporting_errors():
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        with local_sessions() as sessions:
            policy = access.import_policy(sessions, text, actor=local_principal(), source=str(file))
    typer.echo(
        f"imported {len(policy.rules)} rule(s) and {len(policy.bindings)} binding(s)", err=True
    )


@policy_app.command("export")
def export_policy(
    file: Annotated[
        Path | None, typer.Argument(dir_okay=False, help="Write here; stdout without it.")
    ] = None,
) -> None:
    """Print (or write to FILE) the whole policy as CSV, ready for `policy import`."""
    from helmforge.cli.principals import local_principal
    from helmforge.services import access

    with reporting_errors():
        with local_sessions() as sessions:
            text = access.export_policy(sessions, actor=local_principal())
        if file is None:
            typer.echo(text, nl=False)
        else:
            file.write_text(text, encoding="utf-8")


def can(
    subject: Annotated[str, typer.Argument(help="user:NAME, group:NAME, or a bare user name.")],
    permission: Annotated[str, typer.Argument(help="RESOURCE.ACTION, e.g. chart.publish.")],
    scope: Annotated[
        str,
        typer.Argument(
            help="PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE for instance permissions, a template "
            "name for template ones, anything (e.g. -) for global ones."
        ),
    ],
    groups: Annotated[
        list[str] | None,
        typer.Option(
            "--group", envvar="HELMFORGE_GROUPS", help="Also an SSO group the user is in."
        ),
    ] = None,
) -> None:
    """Whether SUBJECT may do PERMISSION at SCOPE: prints yes or no and the rule that decided
    (exit 0 for yes, 1 for no). Offline: reads the store, records nothing."""
    from helmforge.services import access

    with reporting_errors(), local_sessions() as sessions:
        decision = access.explain(
            sessions, subject=subject, permission=permission, scope=scope, groups=groups or ()
        )
    typer.echo("yes" if decision.allowed else "no")
    typer.echo(decision.reason)
    raise typer.Exit(0 if decision.allowed else 1)


Server = Annotated[str, typer.Option("--server", envvar="HELMFORGE_SERVER", help="Server URL.")]
Comment = Annotated[
    str, typer.Option("--comment", envvar="HELMFORGE_COMMENT", help="Why (recorded).")
]


def _show(request: dict[str, Any]) -> str:
    approvals = request.get("approvals") or []
    return (
        f"{request.get('change_request')}\t{request.get('state')}\t{request.get('kind')}\t"
        f"{request.get('target')}\t{request.get('requester')}\t"
        f"{len(approvals)}/{request.get('required')}"
    )


@changes_app.command("list")
def list_changes(
    *,
    server: Server,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="HELMFORGE_STATE",
            help="pending, applied, rejected or stale; every state without it.",
        ),
    ] = None,
) -> None:
    """List the change requests you may see: id, state, kind, target, requester,
    approvals/required (tab-separated, newest first). The token comes from HELMFORGE_TOKEN."""
    from helmforge.services.remote_changes import list_changes as listed

    with reporting_errors():
        requests = listed(server=server, token=os.environ.get("HELMFORGE_TOKEN", ""), state=state)
    for request in requests:
        typer.echo(_show(request))


def _decide(request_id: int, decision: str, *, server: str, comment: str) -> None:
    from helmforge.services.remote_changes import decide_change

    with reporting_errors():
        request = decide_change(
            server=server,
            token=os.environ.get("HELMFORGE_TOKEN", ""),
            request_id=request_id,
            decision=decision,
            comment=comment,
        )
    typer.echo(_show(request))


RequestId = Annotated[int, typer.Argument(min=1, help="The change request's id.")]


def _review_text(review: dict[str, Any]) -> str:
    """A request's review as the page shows it: the instance's revision now, whether it
    moved, then each diff (or why it cannot be shown)."""
    revision = str(review.get("revision") or "")[:12]
    lines = [f"What approving applies now (the instance at revision {revision or '?'}):"]
    if review.get("creates"):
        lines = ["What approving applies now (a new instance: everything below is created):"]
    if review.get("moved"):
        lines.append(
            "STALE: the instance changed since this request was made; approving commits "
            "nothing and marks it stale (propose it again)."
        )
    if review.get("note"):
        lines.append(f"The diffs cannot be shown: {review['note']}")
        return "\n".join(lines) + "\n"
    for problem in review.get("errors") or []:
        lines.append(f"refused by the schema: {problem.get('path')}: {problem.get('message')}")
    for title, name in (("values.yaml", "values_diff"), ("effective values", "effective_diff")):
        lines.append(f"# {title}")
        lines.append(str(review.get(name) or "(no difference)\n").rstrip("\n"))
    lines.append("# rendered manifests (what Argo CD will apply)")
    error = review.get("manifests_error")
    text = f"Helm cannot render the chart: {error}" if error else review.get("manifests_diff")
    lines.append(str(text or "(no difference)").rstrip("\n"))
    return "\n".join(lines) + "\n"


@changes_app.command("show")
def show_change(request_id: RequestId, *, server: Server) -> None:
    """Show a change request: its summary line, its diff as proposed and, for a pending
    creation, values update, rollback, upgrade or promotion of an instance, what approving
    would apply now (diffs of values.yaml, the effective values and Helm's rendered
    manifests; a creation's against nothing)."""
    from helmforge.services.remote_changes import show_change as shown

    with reporting_errors():
        request = shown(
            server=server, token=os.environ.get("HELMFORGE_TOKEN", ""), request_id=request_id
        )
    typer.echo(_show(request))
    typer.echo(str(request.get("diff") or "").rstrip("\n"))
    review = request.get("review")
    if isinstance(review, dict):
        typer.echo(_review_text(review), nl=False)


@changes_app.command("approve")
def approve_change(request_id: RequestId, *, server: Server, comment: Comment = "") -> None:
    """Approve a change request (never your own); with enough approvals it is applied."""
    _decide(request_id, "approve", server=server, comment=comment)


@changes_app.command("reject")
def reject_change(request_id: RequestId, *, server: Server, comment: Comment = "") -> None:
    """Reject a pending change request (its requester withdraws it this way)."""
    _decide(request_id, "reject", server=server, comment=comment)


def register(app: typer.Typer) -> None:
    """Add bindings, policy, can and changes to the ``helmforge`` application."""
    app.add_typer(bindings_app, name="bindings")
    app.add_typer(policy_app, name="policy")
    app.add_typer(changes_app, name="changes")
    app.command("can")(can)
