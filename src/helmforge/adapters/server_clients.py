"""A small client of helmforge's own REST API, for the CLI's ``--server`` mode.

HTTP failures become helmforge errors with the server's message, by the server's own table
(``helmforge.core.errors.HTTP_STATUS``) read backwards: 401 ``AuthenticationError``, 403
``PermissionDeniedError``, 404 ``NotFoundError``, 409 ``ConflictError``, 413 ``TooLargeError``,
400/422 ``InputError``, anything else ``ExternalServiceError``. A 409 about an instance that
changed since the revision an edit was made on is ``StaleAnswerError``, carrying the server's
``current_revision`` and ``diff``. The token never appears in an error.
"""

from __future__ import annotations

__all__ = ["ServerClient", "StaleAnswerError"]

from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from helmforge.core.errors import (
    ConflictError,
    ExternalServiceError,
    InputError,
    Location,
    error_class_for_http_status,
)


class StaleAnswerError(ConflictError):
    """The server's 409 for an edit made on an old revision: ``current_revision`` is the
    instance's revision now, ``diff`` what changed from the edited revision to it."""

    def __init__(self, message: str, *, current_revision: str | None, diff: str) -> None:
        self.current_revision = current_revision
        self.diff = diff
        super().__init__(message)


def _segments(instance: str) -> str:
    """``p/c/e/i`` as four quoted path segments (the server checks what they may be)."""
    parts = instance.split("/")
    if len(parts) != 4 or not all(parts):
        raise InputError(
            f"instance {instance!r} is not PRODUCT/CUSTOMER/ENVIRONMENT/INSTANCE "
            "(e.g. shop/acme/dev/eu-1)"
        )
    return "/".join(quote(part, safe="") for part in parts)


def _check_server_url(base_url: str) -> None:
    """``InputError`` for a URL that is not ``http(s)://host[:port][/path]``; one with userinfo
    is refused without echoing it (it would hold a password, which every "did not answer"
    message would then print)."""
    try:
        parsed = urlsplit(base_url)
        parsed.port  # noqa: B018 - reading it checks the port
    except ValueError:
        raise InputError(
            "the server URL is not valid: give http(s)://host[:port]", location=Location("--server")
        ) from None
    if "@" in parsed.netloc:
        raise InputError(
            "the server URL must not contain credentials (user:password@); the API token "
            "comes from HELMFORGE_TOKEN",
            location=Location("--server"),
        )
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(
            f"server URL {base_url!r} must start with http:// or https:// and name a host",
            location=Location("--server"),
        )


class ServerClient:
    """Calls ``/api/v1`` of the server at ``base_url`` with a bearer ``token``."""

    def __init__(
        self, base_url: str, *, token: str, timeout: float = 60.0, transport: Any = None
    ) -> None:
        _check_server_url(base_url)
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ExternalServiceError(
                f"helmforge server {self.base_url} did not answer: {type(error).__name__}"
            ) from None
        if response.status_code < 400:
            return response
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("message") or response.text[:500])
        else:
            message = response.text[:500] or response.reason_phrase
        text = f"server answered {response.status_code}: {message}"
        if response.status_code == 409 and isinstance(body, dict) and "current_revision" in body:
            current = body.get("current_revision")
            raise StaleAnswerError(
                text,
                current_revision=current if isinstance(current, str) else None,
                diff=str(body.get("diff") or ""),
            )
        raise error_class_for_http_status(response.status_code)(text)

    def build_chart(
        self,
        *,
        template: str,
        context: dict[str, Any],
        values: dict[str, Any],
        chart_version: str | None = None,
    ) -> dict[str, Any]:
        """POST /charts: the recorded build (id, name, version, digest, file_name, ...)."""
        body: dict[str, Any] = {"template": template, "context": context, "values": values}
        if chart_version:
            body["chart_version"] = chart_version
        result: dict[str, Any] = self._request("POST", "/charts", json=body).json()
        return result

    def chart_archive(self, build_id: str) -> bytes:
        """GET /charts/{id}/archive: the .tgz bytes."""
        return self._request("GET", f"/charts/{build_id}/archive").content

    def _json_list(self, response: httpx.Response) -> list[dict[str, Any]]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ExternalServiceError(
                f"{self.base_url} answered {response.request.url.path} with something other "
                "than a helmforge list; is it a helmforge server?"
            )
        return data

    def templates(self) -> list[dict[str, Any]]:
        """GET /templates: every template with its versions and latest published version."""
        return self._json_list(self._request("GET", "/templates"))

    def template_versions(self, name: str) -> list[dict[str, Any]]:
        """GET /templates/{name}/versions: every version with its status, oldest first."""
        path = f"/templates/{quote(name, safe='')}/versions"
        return self._json_list(self._request("GET", path))

    def template_yaml(self, name: str, version: str) -> bytes:
        """GET /templates/{name}/versions/{version}/yaml: the version's YAML, as sent (UTF-8)."""
        path = f"/templates/{quote(name, safe='')}/versions/{quote(version, safe='')}/yaml"
        return self._request("GET", path).content

    def change_requests(self, *, state: str | None = None) -> list[dict[str, Any]]:
        """GET /change-requests[?state=S]: the requests the caller may see, newest first."""
        params = {"state": state} if state else {}
        return self._json_list(self._request("GET", "/change-requests", params=params))

    def change_request(self, request_id: int) -> dict[str, Any]:
        """GET /change-requests/{id}: one request, with its ``review`` when it has one."""
        return self._json_object(self._request("GET", f"/change-requests/{int(request_id)}"))

    def decide_change_request(
        self, request_id: int, decision: str, *, comment: str = ""
    ) -> dict[str, Any]:
        """POST /change-requests/{id}/approve or /reject: the request as it is afterwards."""
        if decision not in ("approve", "reject"):
            raise InputError(f"decision {decision!r} must be approve or reject")
        path = f"/change-requests/{int(request_id)}/{decision}"
        response = self._request("POST", path, json={"comment": comment})
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ExternalServiceError(
                f"{self.base_url} answered {path} with something other than a change request"
            )
        return data

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ExternalServiceError(
                f"{self.base_url} answered {response.request.url.path} with something other "
                "than a helmforge object; is it a helmforge server?"
            )
        return data

    def _items(self, response: httpx.Response) -> list[dict[str, Any]]:
        items = self._json_object(response).get("items")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ExternalServiceError(
                f"{self.base_url} answered {response.request.url.path} without its items"
            )
        return items

    # --- instances (DESIGN §6): a change may answer 202 with a change request ---------------

    def create_instance(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /instances: the instance created (201), or the change request (202, it holds
        ``change_request``)."""
        return self._json_object(self._request("POST", "/instances", json=body))

    def instances(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """GET /instances with the filters given (``None`` ones left out)."""
        params = {key: value for key, value in filters.items() if value is not None}
        return self._items(self._request("GET", "/instances", params=params))

    def instance(self, instance: str) -> dict[str, Any]:
        """GET /instances/{p}/{c}/{e}/{i}: the instance with its values and revision."""
        return self._json_object(self._request("GET", f"/instances/{_segments(instance)}"))

    def put_values(
        self,
        instance: str,
        values: dict[str, Any] | None,
        *,
        if_match: str,
        message: str | None,
        values_yaml: str | None = None,
    ) -> dict[str, Any]:
        """PUT /instances/.../values with ``If-Match``: the change (200) or change request;
        with ``values_yaml`` (and ``values`` None) values.yaml's text instead of data."""
        body: dict[str, Any] = (
            {"values": values} if values_yaml is None else {"values_yaml": values_yaml}
        )
        if message:
            body["message"] = message
        response = self._request(
            "PUT",
            f"/instances/{_segments(instance)}/values",
            json=body,
            headers={"If-Match": f'"{if_match}"'},
        )
        return self._json_object(response)

    def history(self, instance: str, *, limit: int) -> list[dict[str, Any]]:
        """GET /instances/.../history: the commits that changed it, newest first."""
        path = f"/instances/{_segments(instance)}/history"
        return self._items(self._request("GET", path, params={"limit": limit}))

    def instance_action(self, instance: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /instances/.../{rollback|upgrade|promote}: the change (200) or the change
        request (202)."""
        if action not in ("rollback", "upgrade", "promote"):
            raise InputError(f"action {action!r} must be rollback, upgrade or promote")
        path = f"/instances/{_segments(instance)}/{action}"
        return self._json_object(self._request("POST", path, json=body))

    # --- GitOps repositories ----------------------------------------------------------------

    def add_repository(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /gitops/repositories: the repository as recorded (no secret)."""
        return self._json_object(self._request("POST", "/gitops/repositories", json=body))

    def repositories(self) -> list[dict[str, Any]]:
        """GET /gitops/repositories: every configured repository (no secret)."""
        return self._items(self._request("GET", "/gitops/repositories"))

    def remove_repository(self, name: str) -> None:
        """DELETE /gitops/repositories/{name}."""
        self._request("DELETE", f"/gitops/repositories/{quote(name, safe='')}")

    # --- Argo CD ---------------------------------------------------------------------------

    def add_argocd_server(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /argocd/servers: the server as recorded (no token)."""
        return self._json_object(self._request("POST", "/argocd/servers", json=body))

    def argocd_servers(self) -> list[dict[str, Any]]:
        """GET /argocd/servers: every configured Argo CD server (no token)."""
        return self._items(self._request("GET", "/argocd/servers"))

    def remove_argocd_server(self, name: str) -> None:
        """DELETE /argocd/servers/{name}."""
        self._request("DELETE", f"/argocd/servers/{quote(name, safe='')}")

    def application_set(self, server: str, repository: str) -> str:
        """GET /argocd/servers/{name}/applicationset?repository=: the ApplicationSet YAML."""
        path = f"/argocd/servers/{quote(server, safe='')}/applicationset"
        return self._request("GET", path, params={"repository": repository}).text

    def sync_instance(self, instance: str, *, timeout: float) -> dict[str, Any]:
        """POST /instances/.../sync: the finished sync. The server answers once Argo CD
        reports the rollout (within its own deadline), so this waits up to ``timeout``."""
        path = f"/instances/{_segments(instance)}/sync"
        return self._json_object(self._request("POST", path, timeout=timeout))

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/{id}: the job's state, progress and (once ended) result or error."""
        path = f"/jobs/{quote(job_id, safe='')}"
        return self._json_object(self._request("GET", path))

    def rollout(
        self, rollout_id: str | None, action: str | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST /fleet/rollouts (``rollout_id`` None: start one with ``body``), GET
        /fleet/rollouts/{id} (``action`` None), or POST /fleet/rollouts/{id}/{action}."""
        if rollout_id is None:
            return self._json_object(self._request("POST", "/fleet/rollouts", json=body or {}))
        path = f"/fleet/rollouts/{quote(rollout_id, safe='')}"
        if action is None:
            return self._json_object(self._request("GET", path))
        if action not in ("pause", "resume", "abort", "rollback"):
            raise InputError(f"rollout action {action!r}: pause, resume, abort or rollback")
        return self._json_object(self._request("POST", f"{path}/{action}", json=body or {}))

    def start_fleet_job(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /fleet/{action} (verify, impact): the 202 answer naming the job."""
        if action not in ("verify", "impact"):
            raise InputError(f"fleet action {action!r} must be verify or impact")
        return self._json_object(self._request("POST", f"/fleet/{action}", json=body))
