"""A small client of helmforge's own REST API, for the CLI's ``--server`` mode.

HTTP failures become helmforge errors with the server's message, by the server's own table
(``helmforge.core.errors.HTTP_STATUS``) read backwards: 401 ``AuthenticationError``, 403
``PermissionDeniedError``, 404 ``NotFoundError``, 409 ``ConflictError``, 413 ``TooLargeError``,
400/422 ``InputError``, anything else ``ExternalServiceError``. The token never appears in an
error.
"""

from __future__ import annotations

__all__ = ["ServerClient"]

from typing import Any
from urllib.parse import quote

import httpx

from helmforge.core.errors import ExternalServiceError, InputError, error_class_for_http_status


class ServerClient:
    """Calls ``/api/v1`` of the server at ``base_url`` with a bearer ``token``."""

    def __init__(
        self, base_url: str, *, token: str, timeout: float = 60.0, transport: Any = None
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InputError(f"server URL {base_url!r} must start with http:// or https://")
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
            message = str(response.json().get("message") or response.text)
        except ValueError:
            message = response.text[:500] or response.reason_phrase
        kind = error_class_for_http_status(response.status_code)
        raise kind(f"server answered {response.status_code}: {message}")

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
