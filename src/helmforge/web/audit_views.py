"""How the audit log reads on its page: objects by name, actions in words, changes as rows.

The stored events keep ids and JSON (what the API returns); people read "chart build
shop-acme-prod-a1 1.0.0" and "replicas: 2 → 3" instead of ``chart:3f2a…`` and a JSON dump.
"""

from __future__ import annotations

__all__ = ["AuditRow", "audit_row"]

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helmforge.services.audit_trail import AuditEvent

_TEMPLATE_TARGET = re.compile(r"[a-z0-9-]{1,63}@[A-Za-z0-9.+-]{1,128}\Z")
_MAX_CHANGES = 40
_MAX_TEXT = 120
_ACTIONS = {
    "chart.build": "built a chart",
    "chart.publish": "published a chart",
    "template.create": "created a template draft",
    "template.update": "saved a template draft",
    "template.publish": "published a template",
    "template.deprecate": "deprecated a template",
    "template.delete": "deleted a template draft",
    "user.create": "created a user",
    "user.sign_in": "signed in",
    "user.sign_in_failed": "refused a sign-in",
    "user.password_change": "changed their password",
    "user.password_set": "reset a password",
    "token.create": "created an API token",
    "token.revoke": "revoked an API token",
    "registry.create": "added a registry",
    "registry.update": "changed a registry",
    "registry.delete": "removed a registry",
    "binding.create": "granted a role",
    "binding.delete": "removed a role",
    "policy.import": "imported the access policy",
    "access.deny": "denied an action",
}


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One event as the page shows it."""

    at: str
    actor: str
    who: str  # the actor's name as recorded, for the page's user filter
    action: str
    action_text: str
    target: str
    label: str
    link: str
    changes: tuple[tuple[str, str], ...]


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "\u2026"


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "value": value}


def _changes(before: Any, after: Any) -> tuple[tuple[str, str], ...]:
    old = _flatten(before) if before is not None else {}
    new = _flatten(after) if after is not None else {}
    rows: list[tuple[str, str]] = []
    for key in [*new, *(k for k in old if k not in new)]:
        if key in old and key in new:
            if old[key] == new[key]:
                continue
            rows.append((key, f"{_short(old[key])} \u2192 {_short(new[key])}"))
        elif key in new:
            rows.append((key, _short(new[key])))
        else:
            rows.append((key, f"{_short(old[key])} \u2192 (removed)"))
    if len(rows) > _MAX_CHANGES:
        rows = [*rows[:_MAX_CHANGES], ("\u2026", f"{len(rows) - _MAX_CHANGES} more")]
    return tuple(rows)


def _label_and_link(event: AuditEvent) -> tuple[str, str]:
    kind, _, name = event.target.partition(":")
    after = event.after if isinstance(event.after, Mapping) else {}
    if kind == "chart" and name.isalnum():
        link = f"/charts/{name}"
        if event.action == "chart.publish" and after.get("repository"):
            return f"chart {after['repository']}:{after.get('tag', '')}", link
        if after.get("name"):
            return f"chart build {after['name']} {after.get('version', '')}".strip(), link
        return f"chart build {name[:12]}", link
    if kind == "template" and _TEMPLATE_TARGET.match(name):
        template, _, version = name.partition("@")
        return f"template {template} {version}", f"/templates/{template}"
    if kind == "token":
        label = after.get("label") or after.get("prefix") or ""
        owner = after.get("user")
        text = f"API token {label}".strip()
        return (f"{text} of {owner}" if owner else text), ""
    if kind == "change" and name.isdigit():
        return f"change request #{name}", f"/changes/{name}"
    if kind in ("user", "registry"):
        return f"{kind} {name}", "/registries" if kind == "registry" else ""
    return event.target, ""


def audit_row(event: AuditEvent, *, at: str) -> AuditRow:
    """The page's view of ``event`` (``at`` already formatted)."""
    label, link = _label_and_link(event)
    actor = event.actor if event.actor_kind == "user" else f"{event.actor} ({event.actor_kind})"
    return AuditRow(
        at=at,
        actor=actor,
        who=event.actor,
        action=event.action,
        action_text=_ACTIONS.get(event.action, ""),
        target=event.target,
        label=label,
        link=link,
        changes=_changes(event.before, event.after),
    )
