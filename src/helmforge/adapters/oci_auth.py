"""The credentials a ``RegistryClient`` sends (``adapters.oci``): the scheme learned from the
registry's first 401 challenge, basic's header (the name byte-exact, UTF-8), and bearer tokens
per scope from the token service the challenge names, each renewed a little before it ends.

Only a request that carried the password proves it wrong, and a token fetched for the very
request it was refused for means the account lacks the scope (403, not 401). Nothing here
formats a password or a token into a message.
"""

from __future__ import annotations

__all__ = ["RegistryAuth"]

import base64
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from helmforge.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    PermissionDeniedError,
)
from helmforge.core.oci.references import Registry, parse_challenge

# A token that names no lifetime lives 60 s (distribution token spec); each is renewed a little
# before its end, so that none expires between being sent and being checked.
_TOKEN_DEFAULT_LIFETIME = 60.0
_TOKEN_RENEW_EARLY = 5.0


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float  # on the client's clock


class _Send(Protocol):
    """``RegistryClient._send``: one request with its bounded retries."""

    def __call__(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str],
        content: bytes | None,
        what: str,
        give_up: float,
    ) -> httpx.Response: ...


class RegistryAuth:
    """What one registry client authenticates with; safe to share between its threads."""

    def __init__(
        self,
        registry: Registry,
        *,
        clock: Callable[[], float],
        send: _Send,
        count: Callable[[str], None],
    ) -> None:
        self.registry = registry
        self._clock = clock
        self._send = send
        self._count = count
        self._lock = threading.Lock()
        self._scheme: str | None = None
        self._tokens: dict[str, _Token] = {}

    @property
    def _authority(self) -> str:
        return self.registry.reference.authority

    def headers(self, scope: str) -> dict[str, str]:
        """The Authorization header to send for ``scope``: a live bearer token, basic's, or none."""
        with self._lock:
            scheme = self._scheme
            token = self._tokens.get(scope)
        if scheme == "bearer" and token and self._clock() < token.expires_at:
            return {"Authorization": f"Bearer {token.value}"}
        # An expired token is not sent: the registry's challenge brings a fresh one.
        if scheme == "basic" and self.registry.username is not None:
            return {"Authorization": self.basic_header()}
        return {}

    def basic_header(self) -> str:
        # Robot names such as robot$proj+ci go out byte-exact, UTF-8, never URL-encoded.
        username = self.registry.username or ""
        password = self.registry.password.reveal() if self.registry.password else ""
        raw = f"{username}:{password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def answer_challenge(
        self,
        response: httpx.Response,
        *,
        scope: str,
        fresh: bool,
        what: str,
        give_up: float,
        sent_basic: bool = False,
    ) -> bool:
        """React to a 401: learn the scheme, fetch a token; returns whether a fresh token waits.

        Only a request that carried the password proves it wrong: concurrent first requests
        all go out without credentials while one of them learns the scheme.
        """
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        with self._lock:
            known = self._scheme
        if challenge.scheme == "basic":
            if self.registry.username is None:
                raise AuthenticationError(
                    f"{self._authority} asks for a username and password ({what})"
                )
            if known == "basic" and sent_basic:
                raise AuthenticationError(
                    f"{self._authority} refused the password of user "
                    f"{self.registry.username!r} ({what})"
                )
            with self._lock:
                self._scheme = "basic"
            return False
        if challenge.scheme == "bearer":
            if fresh and challenge.error != "invalid_token":
                # A token fetched for this very request was refused: the account lacks the scope.
                raise PermissionDeniedError(f"denied: {what} is not allowed for this account")
            realm = challenge.params.get("realm")
            if not realm:
                raise ExternalServiceError(f"{self._authority}: bearer challenge without a realm")
            if not realm.startswith("https://") and not (
                self.registry.plain_http and realm.startswith("http://")
            ):
                raise ExternalServiceError(
                    f"{self._authority}: the token realm must be an https:// URL, not {realm!r}"
                )
            token, lifetime = self._fetch_token(
                realm,
                service=challenge.params.get("service"),
                scope=scope,
                what=what,
                give_up=give_up,
            )
            expires_at = self._clock() + max(lifetime - _TOKEN_RENEW_EARLY, 0.0)
            with self._lock:
                self._scheme = "bearer"
                self._tokens[scope] = _Token(token, expires_at)
            return True
        raise AuthenticationError(
            f"{self._authority} answered 401 with an unsupported challenge "
            f"{challenge.scheme or '(none)'!r} ({what})"
        )

    def _fetch_token(
        self, realm: str, *, service: str | None, scope: str, what: str, give_up: float
    ) -> tuple[str, float]:
        """A token for ``scope`` and how many seconds it lives."""
        params = {"scope": scope} if scope else {}
        if service:
            params["service"] = service
        headers: dict[str, str] = {}
        if self.registry.username is not None:
            headers["Authorization"] = self.basic_header()
        url = httpx.URL(realm).copy_merge_params(params)
        response = self._send(
            "GET", url, headers=headers, content=None, what=f"token for {what}", give_up=give_up
        )
        self._count("tokens_fetched")
        if response.status_code == 401:
            raise AuthenticationError(
                f"the token service of {self._authority} refused the credentials ({what})"
            )
        if response.status_code == 403:
            raise PermissionDeniedError(f"denied: the token service refused {what}")
        if response.status_code != 200:
            raise ExternalServiceError(
                f"the token service of {self._authority} answered {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            raise ExternalServiceError("the token service answered no JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ExternalServiceError("the token service answered without a token")
        lifetime = body.get("expires_in")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = _TOKEN_DEFAULT_LIFETIME
        return token, float(lifetime)
