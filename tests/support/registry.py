"""Debian's docker-registry on loopback, a test token issuer and a fault-injecting proxy.

Fixtures (registered by ``pytest_plugins`` in tests/conftest.py):

- ``basic_registry``: a session registry behind htpasswd (bcrypt) with users ``helmforge`` and
  ``robot$proj+ci``; ``token_registry``: one behind token auth from ``TokenIssuer``.
- ``private_registry``: a fresh anonymous registry per test (kill and restart it at will).
- ``fault_proxy``: an HTTP proxy in front of ``private_registry`` that answers 429/500, drops
  connections before or after forwarding, and can add latency.

A registry that cannot start fails the test with its log; nothing is skipped.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.client
import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.support.servers import UPPER_BOUND, free_port

REGISTRY_BINARY = "/usr/bin/docker-registry"
SERVICE = "helmforge-test-registry"
ISSUER = "helmforge-test-issuer"
CANARY_PASSWORD = "canary-Pw-7f3a9c1e-DO-NOT-LEAK"
ROBOT = "robot$proj+ci"
USERS = {"helmforge": "helmforge-test-password", ROBOT: CANARY_PASSWORD}


# --- the registry process ---------------------------------------------------------------


@dataclass
class RegistryServer:
    """One docker-registry process on 127.0.0.1:port with filesystem storage in ``root``."""

    root: Path
    auth: dict[str, Any] | None = None
    tls: tuple[Path, Path] | None = None  # certificate and key files: serve HTTPS
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.authority}"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    def write_config(self) -> Path:
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "storage")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.authority, "secret": "helmforge-test-upload-secret"},
        }
        if self.auth:
            config["auth"] = self.auth
        if self.tls:
            config["http"]["tls"] = {"certificate": str(self.tls[0]), "key": str(self.tls[1])}
        path = self.root / "config.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        return path

    def start(self) -> None:
        assert shutil.which(REGISTRY_BINARY), f"{REGISTRY_BINARY} is not installed"
        config = self.write_config()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        # The bound only keeps a registry that never starts from hanging the run.
        bound = time.monotonic() + UPPER_BOUND
        while time.monotonic() < bound:
            if self.process.poll() is not None:
                break
            try:
                connection: http.client.HTTPConnection = (
                    http.client.HTTPSConnection(
                        "127.0.0.1", self.port, timeout=1, context=ssl._create_unverified_context()
                    )
                    if self.tls
                    else http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                )
                connection.request("GET", "/v2/")
                status = connection.getresponse().status
                connection.close()
                if status in (200, 401):
                    return
            except OSError:
                time.sleep(0.05)
        log_text = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        pytest.fail(f"docker-registry did not start on {self.authority}:\n{log_text}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


def make_tls_files(folder: Path) -> tuple[Path, Path, str]:
    """A test CA and a server certificate for 127.0.0.1 it signs: (cert, key, CA PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helmforge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, ca.public_bytes(serialization.Encoding.PEM).decode()


def htpasswd_line(username: str, password: str) -> str:
    result = subprocess.run(
        ["htpasswd", "-Bbn", username, password], check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


# --- the token issuer -------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class TokenIssuer:
    """Issues registry JWTs (RS256, certificate in ``x5c``) after checking basic credentials.

    ``grants`` maps a username (``""`` for anonymous) to the actions it gets on every
    repository; ``expire_next`` makes the next N tokens arrive already expired; ``ttl`` is how
    long the registry will accept the following ones.
    """

    root: Path
    grants: dict[str, list[str]] = field(
        default_factory=lambda: {name: ["pull", "push"] for name in USERS}
    )
    expire_next: int = 0
    ttl: float = 300.0
    received_usernames: list[str] = field(default_factory=list)
    issued: int = 0
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = self.root / "token-cert.pem"
        self.cert_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict[str, Any]:
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.cert_path),
            }
        }

    def sign(self, claims: dict[str, Any]) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def token_for(self, username: str, scopes: list[str]) -> str:
        allowed = self.grants.get(username, [])
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in allowed]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        with self._lock:
            self.issued += 1
            expired = self.expire_next > 0
            if expired:
                self.expire_next -= 1
        # The registry accepts tokens up to 60 s past "exp": a ttl of 2 means refused in ~2 s.
        expiry = now - 3600 if expired else int(time.time() + self.ttl - 60)
        claims = {
            "iss": ISSUER,
            "sub": username,
            "aud": SERVICE,
            "exp": expiry,
            "nbf": now - 3700 if expired else now - 10,
            "iat": now - 3700 if expired else now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return self.sign(claims)

    def serve(self) -> ThreadingHTTPServer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parsed.query)
                username = ""
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    raw = base64.b64decode(header[6:]).decode()
                    username, _, password = raw.partition(":")
                    with issuer._lock:
                        issuer.received_usernames.append(username)
                    if USERS.get(username) != password:
                        self.answer(401, {"details": "bad credentials"})
                        return
                token = issuer.token_for(username, query.get("scope", []))
                body = {"token": token, "access_token": token, "expires_in": issuer.ttl}
                self.answer(200, body)

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


# --- the fault-injecting proxy ----------------------------------------------------------


@dataclass
class Fault:
    """Answer ``action`` to the next ``times`` requests matching method and path pattern.

    Actions: a status such as ``"429"``, ``"500"`` or ``"412"`` (answered by the proxy with
    ``body``, ``retry_after`` optional),
    ``"drop"`` (close the connection before forwarding), ``"lose-response"`` (forward, then
    close without answering), ``"hook"`` (call ``hook()`` then forward). ``headers`` go with an
    answered status (a ``WWW-Authenticate`` challenge, say).
    """

    method: str
    path: str
    action: str
    times: int = 1
    retry_after: str | None = None
    hook: Callable[[], None] | None = None
    body: bytes = b'{"errors":[]}'
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class FaultProxy:
    """A keep-alive HTTP/1.1 proxy in front of the registry that injects ``Fault``s."""

    def __init__(self, upstream_port: int, *, latency: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.latency = latency
        self.port = free_port()
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str] = []
        self.injected: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._server = self._serve()

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and re.search(fault.path, path):
                    fault.times -= 1
                    self.injected.append((method, path, fault.action))
                    return fault
        return None

    def _upstream(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in range(2):
            connection = self._upstream()
            try:
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                data = response.read()
                return response.status, response.getheaders(), data
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _serve(self) -> ThreadingHTTPServer:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                method = self.command
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy.latency:
                    time.sleep(proxy.latency)
                if auth := self.headers.get("Authorization"):
                    with proxy._lock:
                        proxy.authorizations.append(auth)
                fault = proxy._take(method, self.path)
                if fault and fault.action.isdigit():
                    extra = [("Content-Type", fault.content_type)]
                    if fault.retry_after:
                        extra.append(("Retry-After", fault.retry_after))
                    extra.extend(fault.headers)
                    self.reply(int(fault.action), extra, fault.body)
                    return
                if fault and fault.action == "drop":
                    self.drop()
                    return
                if fault and fault.action == "hook" and fault.hook:
                    fault.hook()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    status, response_headers, data = proxy._forward(
                        method, self.path, headers, body
                    )
                except (OSError, http.client.HTTPException):
                    self.drop()
                    return
                if fault and fault.action == "lose-response":
                    self.drop()
                    return
                kept = [
                    (k, v)
                    for k, v in response_headers
                    if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
                ]
                length_header = {k.lower(): v for k, v in response_headers}.get("content-length")
                self.reply(status, kept, data, head_length=length_header)

            def reply(
                self,
                status: int,
                headers: list[tuple[str, str]],
                data: bytes,
                head_length: str | None = None,
            ) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", head_length or "0")
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for connection in self._connections:
                connection.close()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry behind htpasswd basic auth (bcrypt) with ``USERS``."""
    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text("".join(htpasswd_line(u, p) + "\n" for u, p in USERS.items()))
    server = RegistryServer(root, auth={"htpasswd": {"realm": "helmforge", "path": str(htpasswd)}})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(tmp_path_factory.mktemp("token-issuer"))
    server = issuer.serve()
    yield issuer
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, token_issuer: TokenIssuer
) -> Iterator[RegistryServer]:
    """A registry behind token auth, trusting ``token_issuer``'s certificate."""
    server = RegistryServer(
        tmp_path_factory.mktemp("token-registry"), auth=token_issuer.registry_auth()
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A fresh anonymous registry for this test alone."""
    server = RegistryServer(tmp_path / "registry")
    server.root.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[RegistryServer, str]]:
    """A fresh anonymous HTTPS registry and the PEM of the CA that signed its certificate."""
    root = tmp_path / "tls-registry"
    root.mkdir()
    certificate, key, ca_pem = make_tls_files(root)
    server = RegistryServer(root, tls=(certificate, key))
    server.start()
    yield server, ca_pem
    server.stop()


@pytest.fixture
def fault_proxy(private_registry: RegistryServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(private_registry.port)
    yield proxy
    proxy.close()


def unique_path(prefix: str = "t") -> str:
    """A repository path no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
