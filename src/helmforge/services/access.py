"""Access control (DESIGN §9): the one seam every service asks before it reads or writes.

``require(sessions, actor, permission, target)`` evaluates the caller's bindings with the pure
policy of ``core/access/policy.py``; a denial is audited (``access.deny``) and raises
``PermissionDeniedError`` (403), or ``NotFoundError`` (404) when the caller may not even read the
object, so that an object outside every readable scope looks exactly like a missing one.
Bindings and custom rules live in the database; the policy is importable and exportable as
Argo CD-style CSV. The server itself (``SYSTEM``) and local commands on a store they open
directly (``local_operator``) are always allowed.

The service API of access: services, API, UI and CLI import these names from here. Its rooms:

- ``access_policies``: the access settings a store carries, the stored policy as the core's
  ``Policy`` (an actor's bindings and every rule in one statement);
- ``access_checks``: ``require``, ``require_on``, ``allowed``, ``held``, ``allowed_where``,
  ``permissions_of``, ``explain``;
- ``access_bindings``: bindings one by one and the policy as CSV, refusing what would leave
  nobody able to manage access.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_DEVELOPMENT_ENVIRONMENTS",
    "AccessConfiguration",
    "BindingView",
    "access_configuration",
    "add_binding",
    "allowed",
    "allowed_where",
    "allowed_where_each",
    "bind_role",
    "bindings_of",
    "check_own_bindings",
    "configuration",
    "explain",
    "export_policy",
    "held",
    "import_policy",
    "list_bindings",
    "permissions_of",
    "policy_for",
    "remove_binding",
    "require",
    "require_on",
]

from helmforge.services.access_bindings import (
    BindingView,
    add_binding,
    bind_role,
    bindings_of,
    check_own_bindings,
    export_policy,
    import_policy,
    list_bindings,
    remove_binding,
)
from helmforge.services.access_checks import (
    allowed,
    allowed_where,
    allowed_where_each,
    explain,
    held,
    permissions_of,
    require,
    require_on,
)
from helmforge.services.access_policies import (
    DEFAULT_DEVELOPMENT_ENVIRONMENTS,
    AccessConfiguration,
    access_configuration,
    configuration,
    policy_for,
)
