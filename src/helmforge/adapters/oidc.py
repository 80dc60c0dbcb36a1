"""An OpenID Connect relying party: discovery, JWKS, the authorization code exchange with PKCE,
and ID token validation.

Authlib builds the authorization URL and the S256 code challenge; joserfc (Authlib's JOSE
library) checks the ID token's signature. The code exchange is one form POST made here with
helmforge's httpx (Authlib's own httpx client is another httpx build, which our deadline
transport cannot wrap). Every request to the
provider runs under ``BoundedTransport`` with a total deadline, so a provider that accepts a
connection and never answers holds a sign-in for at most ``deadline`` seconds and nothing
else waits on it.

The provider's metadata and keys are cached for ``cache_ttl`` seconds. A token signed with a
key id the cache does not know triggers one refetch (the provider rotated its keys), but at
most one per ``refetch_cooldown`` seconds, so tokens naming made-up key ids cannot turn every
callback into a request to the provider.
"""

from __future__ import annotations

__all__ = [
    "ALLOWED_ALGORITHMS",
    "OidcClient",
    "OidcError",
    "ProviderMetadata",
]

import base64
import hmac
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from helmforge.adapters.oci_transport import (
    GIVE_UP,
    AnswerTooLargeError,
    BoundedTransport,
    DeadlineExceededError,
)

#: Asymmetric signatures only: never ``none``, never HMAC (the client secret is not a key).
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


class OidcError(Exception):
    """A sign-in through the provider failed; the message says why and holds no token."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """The endpoints discovery found for the configured issuer."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class _DeadlineTransport(BoundedTransport):
    """``BoundedTransport`` that gives each request ``deadline`` seconds in all."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        super().__init__(httpx.HTTPTransport(), clock=clock)
        self._deadline = deadline
        self._now = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions.setdefault(GIVE_UP, self._now() + self._deadline)
        return super().handle_request(request)


def _segment(text: str) -> dict[str, Any]:
    padded = text + "=" * (-len(text) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class OidcClient:
    """The relying party of one provider (thread-safe; share one per server process).

    ``clock`` (monotonic seconds) times the caches and deadlines; ``wall_clock`` (Unix
    seconds) checks the token's ``exp``/``iat``; ``leeway`` allows that much clock skew.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        deadline: float = 10.0,
        cache_ttl: float = 3600.0,
        refetch_cooldown: float = 60.0,
        leeway: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._deadline = deadline
        self._ttl = cache_ttl
        self._cooldown = refetch_cooldown
        self._leeway = leeway
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._last_key_fetch: float | None = None
        #: How many times the keys were fetched (tests check the cool-down with it).
        self.key_fetches = 0

    # --- HTTP ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        return httpx.Client(
            transport=_DeadlineTransport(self._deadline, self._clock),
            timeout=self._deadline,
            follow_redirects=False,
        )

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            with self._http() as client:
                response = client.get(url, headers={"Accept": "application/json"})
                body = response.read()
        except DeadlineExceededError as error:
            raise OidcError(
                f"the single sign-on provider did not answer with its {what} within "
                f"{self._deadline:g} seconds ({url})"
            ) from error
        except AnswerTooLargeError as error:
            raise OidcError(f"the provider's {what} is over {error.limit} bytes ({url})") from error
        except httpx.HTTPError as error:
            raise OidcError(
                f"the single sign-on provider could not be reached for {what} ({url}): "
                f"{type(error).__name__}"
            ) from error
        if response.status_code != 200:
            raise OidcError(f"the provider answered {response.status_code} for {what} ({url})")
        try:
            value = json.loads(body)
        except ValueError as error:
            raise OidcError(f"the provider's {what} is not JSON ({url})") from error
        if not isinstance(value, dict):
            raise OidcError(f"the provider's {what} is not a JSON object ({url})")
        return value

    # --- discovery and keys -------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        """The provider's endpoints (discovery, cached for ``cache_ttl``)."""
        now = self._clock()
        with self._lock:
            if self._metadata is not None and now - self._metadata[0] < self._ttl:
                return self._metadata[1]
        url = f"{self.issuer}/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        if document.get("issuer") != self.issuer:
            raise OidcError(
                f"the discovery document at {url} names issuer "
                f"{str(document.get('issuer'))[:200]!r}, not the configured {self.issuer!r}"
            )
        fields = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise OidcError(f"the discovery document at {url} has no usable {name}")
            fields[name] = value
        found = ProviderMetadata(issuer=self.issuer, **fields)
        with self._lock:
            self._metadata = (self._clock(), found)
        return found

    def _fetch_keys(self) -> KeySet:
        document = self._get_json(self.metadata().jwks_uri, "signing keys (JWKS)")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise OidcError("the provider's signing keys (JWKS) could not be read") from error
        with self._lock:
            now = self._clock()
            self._keys = (now, keys)
            self._last_key_fetch = now
            self.key_fetches += 1
        return keys

    def _key_set(self, kid: str | None) -> KeySet:
        now = self._clock()
        with self._lock:
            cached = self._keys
            last = self._last_key_fetch
        if cached is not None and now - cached[0] < self._ttl:
            if kid is None or any(key.kid == kid for key in cached[1].keys):
                return cached[1]
            if last is not None and now - last < self._cooldown:
                raise OidcError(
                    f"the ID token is signed with key {kid[:80]!r}, which the provider does not "
                    "publish"
                )
        keys = self._fetch_keys()
        if kid is not None and not any(key.kid == kid for key in keys.keys):
            raise OidcError(
                f"the ID token is signed with key {kid[:80]!r}, which the provider does not publish"
            )
        return keys

    # --- the flow -----------------------------------------------------------------------

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_verifier: str,
        silent: bool = False,
    ) -> str:
        """Where to send the browser: the provider's authorization endpoint with the code
        flow's parameters, the nonce and the S256 challenge of ``code_verifier``; ``silent``
        adds ``prompt=none`` (OpenID Connect Core §3.1.2.1): the provider answers at once,
        with a code while the user's session there lives, else with ``login_required`` or a
        like error, and never shows a page."""
        endpoint = self.metadata().authorization_endpoint
        extra = {"prompt": "none"} if silent else {}
        url: str = prepare_grant_uri(
            endpoint,
            self._client_id,
            "code",
            redirect_uri=redirect_uri,
            scope="openid profile email",
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
            **extra,
        )
        return url

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """Trade the authorization ``code`` (and the PKCE verifier) for the ID token."""
        endpoint = self.metadata().token_endpoint
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        try:
            with self._http() as client:
                # client_secret_basic (RFC 6749 §2.3.1): both parts form-encoded first.
                response = client.post(
                    endpoint,
                    data=form,
                    auth=(quote(self._client_id, safe=""), quote(self._client_secret, safe="")),
                    headers={"Accept": "application/json"},
                )
                body = response.read()
        except DeadlineExceededError as error:
            raise OidcError(
                f"the single sign-on provider did not answer the code exchange within "
                f"{self._deadline:g} seconds ({endpoint})"
            ) from error
        except AnswerTooLargeError as error:
            raise OidcError(f"the provider's token answer is over {error.limit} bytes") from error
        except httpx.HTTPError as error:
            raise OidcError(
                f"the single sign-on provider could not be reached for the code exchange "
                f"({endpoint}): {type(error).__name__}"
            ) from error
        try:
            token = json.loads(body)
        except ValueError:
            token = None
        if not isinstance(token, dict):
            raise OidcError(
                f"the provider answered {response.status_code} to the code exchange without "
                f"a JSON object ({endpoint})"
            )
        if response.status_code != 200 or "error" in token:
            description = str(token.get("error", response.status_code))[:100]
            raise OidcError(
                f"the provider refused the authorization code ({description}): a wrong PKCE "
                "verifier, a reused or expired code, or a wrong client secret"
            )
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("the provider's token answer has no ID token")
        return id_token

    def validate_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature (an allowed algorithm, a key the
        provider publishes), issuer, audience, expiry and nonce check out."""
        parts = id_token.split(".")
        if len(parts) != 3 or len(id_token) > 64 * 1024:
            raise OidcError("the ID token is not a signed JWT")
        try:
            header = _segment(parts[0])
        except (ValueError, UnicodeDecodeError) as error:
            raise OidcError("the ID token's header is not valid JSON") from error
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise OidcError(
                f"the ID token is signed with alg {str(algorithm)[:20]!r}; "
                f"allowed: {', '.join(ALLOWED_ALGORITHMS)}"
            )
        kid = header.get("kid")
        keys = self._key_set(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(id_token, keys, algorithms=list(ALLOWED_ALGORITHMS)).claims
        except (JoseError, ValueError) as error:
            raise OidcError("the ID token's signature does not verify") from error
        self._check_claims(claims, nonce)
        return dict(claims)

    def _check_claims(self, claims: Mapping[str, Any], nonce: str) -> None:
        issuer = claims.get("iss")
        if issuer != self.issuer:
            raise OidcError(
                f"the ID token's issuer {str(issuer)[:200]!r} is not the configured {self.issuer!r}"
            )
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self._client_id not in audiences:
            raise OidcError(
                f"the ID token is meant for {str(audience)[:200]!r}, not this client "
                f"({self._client_id!r})"
            )
        if len(audiences) > 1 and claims.get("azp") != self._client_id:
            raise OidcError("the ID token has several audiences and names another party (azp)")
        now = self._wall_clock()
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise OidcError("the ID token has no expiry (exp)")
        if expires + self._leeway <= now:
            raise OidcError("the ID token has expired")
        issued = claims.get("iat")
        if isinstance(issued, int | float) and issued - self._leeway > now:
            raise OidcError("the ID token is issued in the future (iat); check the clocks")
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise OidcError(
                "the ID token's nonce does not match this sign-in (a replayed or foreign token)"
            )
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise OidcError("the ID token has no usable subject (sub)")
