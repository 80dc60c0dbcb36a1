"""OpenID Connect providers on loopback for the single sign-on tests.

``mock_provider``: oidc-provider-mock (a Flask app) on werkzeug's threaded server; any client
id and secret are accepted, users and their claims are predefined. It does not check PKCE.

``StrictProvider``: a small provider of our own that checks everything a real one does (client
secret, redirect URI, the PKCE S256 verifier, one use per code) and signs ID tokens with a test
RSA key; ``token_tweaks`` bends the next ID token (wrong audience or issuer, ``alg: none``,
another nonce, expired) so each negative case is one test. It keeps a session for its one
user: ``prompt=none`` is answered with a code while ``signed_in`` holds, else with
``login_required``, as providers do (``prompts`` records what each authorization asked).

``SilentPeer``: accepts connections and never answers (RELIABILITY row 41).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import oidc_provider_mock
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.orm import Session, sessionmaker

from helmforge.core.access.principals import Principal

CLIENT_ID = "helmforge-test"
CLIENT_SECRET = "test-client-secret"


@contextmanager
def mock_provider(users: list[oidc_provider_mock.User]) -> Iterator[str]:
    """Run oidc-provider-mock with ``users`` on a free loopback port; yield its issuer."""
    app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class _Grant:
    nonce: str
    challenge: str
    redirect_uri: str


@dataclass
class StrictProvider:
    """The strict provider's state: its issuer, keys, codes and the tweaks for the next token."""

    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "key-1"}))
    subject: str = "carol-0001"
    claims: dict[str, Any] = field(
        default_factory=lambda: {"preferred_username": "carol", "groups": ["platform-sre"]}
    )
    token_tweaks: dict[str, Any] = field(default_factory=dict)
    alg_none: bool = False
    grants: dict[str, _Grant] = field(default_factory=dict)
    issued_tokens: list[str] = field(default_factory=list)
    jwks_requests: int = 0
    #: The key id the next ID token's header names (default: the signing key's).
    header_kid: str = ""
    #: Where discovery says the token endpoint is (default: this provider's own).
    token_endpoint: str = ""
    #: Whether the user is signed in at the provider (``prompt=none`` gets a code).
    signed_in: bool = True
    #: The ``prompt`` of each authorization request, in order ("" when none was sent).
    prompts: list[str] = field(default_factory=list)

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            **self.claims,
            **self.token_tweaks,
        }
        if self.alg_none:
            unsigned = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{unsigned}.{_b64(json.dumps(claims).encode())}."
        header = {"alg": "RS256", "kid": self.header_kid or self.key.kid or ""}
        return jwt.encode(header, claims, self.key)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, {}, b"unknown client or response type"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}, b"PKCE (S256) is required"
        if not query.get("nonce"):
            return 400, {}, b"a nonce is required"
        self.prompts.append(query.get("prompt", ""))
        if query.get("prompt") == "none" and not self.signed_in:
            answer = urlencode({"error": "login_required", "state": query["state"]})
            return 302, {"Location": f"{query['redirect_uri']}?{answer}"}, b""
        self.signed_in = True  # an interactive authorization signs the user in here
        code = secrets.token_urlsafe(16)
        self.grants[code] = _Grant(query["nonce"], query["code_challenge"], query["redirect_uri"])
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": location}, b""

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        grant = self.grants.pop(form.get("code", ""), None)  # one use per code
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "unknown code"}
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}
        token = self.id_token(grant)
        self.issued_tokens.append(token)
        return 200, {"access_token": "at", "token_type": "Bearer", "id_token": token}


def _handler(provider: StrictProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: object) -> None:
            self._send(status, {"Content-Type": "application/json"}, json.dumps(value).encode())

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": provider.token_endpoint or f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    },
                )
            elif parts.path == "/jwks":
                provider.jwks_requests += 1
                self._json(200, KeySet([provider.key]).as_dict(private=False))
            elif parts.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self._send(*provider.authorize(query))
            else:
                self._send(404, {}, b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token":
                self._send(404, {}, b"")
                return
            self._json(*provider.token(form, self.headers.get("Authorization", "")))

    return Handler


@contextmanager
def strict_provider() -> Iterator[StrictProvider]:
    """Run a ``StrictProvider`` on a free loopback port."""
    provider = StrictProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def silent_peer() -> Iterator[tuple[str, threading.Event]]:
    """A loopback port that accepts connections and never answers; the event is set once
    the first connection is accepted."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # closed before anyone came
        held.append(connection)
        accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()
        for connection in held:
            connection.close()


def sso_user(sessions: sessionmaker[Session], provider: StrictProvider) -> Principal:
    """Sign ``provider``'s user in through helmforge's single sign-on service (the real flow:
    authorization, code exchange, ID token checks), so an SSO user exists; its principal."""
    from helmforge.services.settings import OidcSettings
    from helmforge.services.single_sign_on import SingleSignOn

    sso = SingleSignOn(
        OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    )
    redirect = "http://127.0.0.1:1/sso/callback"
    url = sso.begin(sessions, next_url="/", redirect_uri=redirect, source="test")
    callback = parse_qs(urlsplit(httpx.get(url).headers["location"]).query)
    signed_in = sso.finish(
        sessions,
        state=callback["state"][0],
        code=callback["code"][0],
        error="",
        redirect_uri=redirect,
        source="test",
    )
    return signed_in.principal
