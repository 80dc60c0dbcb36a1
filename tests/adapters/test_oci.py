"""The OCI client against Debian's docker-registry on loopback (basic and token auth, faults)."""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Iterator

import httpx
import pytest

from helmforge.adapters import oci
from helmforge.adapters.oci import RegistryClient, RetryPolicy, is_chart_manifest
from helmforge.adapters.secrets import (
    decrypt_secret,
    encrypt_secret,
    new_key,
    open_registry,
    seal_registry,
)
from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    InputError,
    PermissionDeniedError,
)
from helmforge.core.oci.artifacts import ChartArtifact, build_artifact, sha256_digest
from helmforge.core.oci.references import Registry
from helmforge.core.secrets import Secret
from tests.support.oci_charts import make_chart
from tests.support.registry import (
    CANARY_PASSWORD,
    ROBOT,
    SERVICE,
    USERS,
    Fault,
    FaultProxy,
    RegistryServer,
    TokenIssuer,
    unique_path,
)

pytestmark = [pytest.mark.registry]

FAST = RetryPolicy(attempts=5, base_delay=0.02, max_delay=0.5)


def robot_at(authority: str) -> Registry:
    """The robot account's view of ``oci://AUTHORITY/x`` over plain HTTP."""
    return Registry(
        f"oci://{authority}/x", plain_http=True, username=ROBOT, password=Secret(CANARY_PASSWORD)
    )


class Sleeps(list[float]):
    """The client's pauses between retries, recorded instead of waited: faults are counted."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def push(client: RegistryClient, repository: str, artifact: ChartArtifact) -> str:
    for digest, data in artifact.blobs:
        client.push_blob(repository, digest, data)
    return client.put_manifest(repository, artifact.tag, artifact.manifest)


def assert_complete(client: RegistryClient, repository: str, artifact: ChartArtifact) -> None:
    """The tag points at our manifest and every blob reads back with its digest."""
    manifest = client.get_manifest(repository, artifact.tag)
    assert manifest is not None
    assert manifest.digest == artifact.manifest_digest
    assert is_chart_manifest(manifest)
    assert client.get_blob(repository, artifact.layer_digest) == artifact.archive
    assert client.get_blob(repository, artifact.config_digest) == artifact.config


@pytest.fixture
def robot_client(basic_registry: RegistryServer) -> Iterator[RegistryClient]:
    registry = robot_at(basic_registry.authority)
    with RegistryClient(registry, retry=FAST) as client:
        yield client


def test_basic_auth_push_and_read_back(robot_client: RegistryClient) -> None:
    repository = f"{unique_path()}/demo"
    artifact = build_artifact(make_chart())
    assert push(robot_client, repository, artifact) == artifact.manifest_digest
    assert_complete(robot_client, repository, artifact)
    # Identical blobs are found by HEAD and not sent again.
    assert not robot_client.push_blob(repository, artifact.layer_digest, artifact.archive)
    assert robot_client.stats["blobs_uploaded"] == 2
    assert robot_client.list_tags(repository) == ["1.0.0"]
    assert robot_client.get_manifest(repository, "9.9.9") is None
    assert robot_client.list_tags(f"{unique_path()}/absent") == []


def test_a_manifest_digest_is_asked_with_head_alone(
    private_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    registry = Registry(f"oci://{fault_proxy.authority}/x", plain_http=True)
    repository = f"{unique_path()}/demo"
    artifact = build_artifact(make_chart())
    with RegistryClient(registry, retry=FAST) as client:
        push(client, repository, artifact)
        fault_proxy.requests.clear()
        assert client.manifest_digest(repository, artifact.tag) == artifact.manifest_digest
        assert client.manifest_digest(repository, "9.9.9") is None
        assert client.manifest_digest(f"{unique_path()}/absent", "1.0.0") is None
    assert [method for method, _ in fault_proxy.requests] == ["HEAD"] * 3


class _DigestDropped(httpx.BaseTransport):
    """A middlebox in front of the real registry that drops its Docker-Content-Digest."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        response.headers.pop("docker-content-digest", None)
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_registry_naming_no_digest_has_its_manifest_read_and_hashed(
    private_registry: RegistryServer,
) -> None:
    registry = Registry(f"oci://{private_registry.authority}/x", plain_http=True)
    repository = f"{unique_path()}/demo"
    artifact = build_artifact(make_chart())
    with RegistryClient(registry, retry=FAST, transport=_DigestDropped()) as client:
        push(client, repository, artifact)
        assert client.manifest_digest(repository, artifact.tag) == artifact.manifest_digest
        assert client.manifest_digest(repository, "9.9.9") is None


def test_a_blob_over_the_answer_budget_is_found_by_head(private_registry: RegistryServer) -> None:
    # A HEAD answer declares the blob's size and sends no body: no answer over the 4 MiB budget.
    data = random.Random(7).randbytes(5 << 20)
    repository = f"{unique_path()}/demo"
    registry = Registry(f"oci://{private_registry.authority}/x", plain_http=True)
    with RegistryClient(registry, retry=FAST) as client:
        assert client.push_blob(repository, sha256_digest(data), data)
        assert not client.push_blob(repository, sha256_digest(data), data)
        assert client.stats["blobs_skipped"] == 1


def test_robot_name_sent_byte_exact(basic_registry: RegistryServer) -> None:
    # RELIABILITY row 23: robot$proj+ci is what the registry receives, byte for byte.
    proxy = FaultProxy(basic_registry.port)
    try:
        registry = robot_at(proxy.authority)
        with RegistryClient(registry, retry=FAST) as client:
            assert client.list_tags(f"{unique_path()}/demo") == []
        decoded = {base64.b64decode(a.split()[1]) for a in proxy.authorizations}
        assert decoded == {f"{ROBOT}:{CANARY_PASSWORD}".encode()}
    finally:
        proxy.close()


def test_wrong_password_is_an_authentication_error_without_the_secret(
    basic_registry: RegistryServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    registry = Registry(
        f"oci://{basic_registry.authority}/x",
        plain_http=True,
        username=ROBOT,
        password=Secret(CANARY_PASSWORD + "-wrong"),
    )
    with RegistryClient(registry, retry=FAST) as client, pytest.raises(AuthenticationError) as e:
        client.list_tags("x/demo")
    assert ROBOT in str(e.value)
    for text in (str(e.value), repr(e.value), repr(client), caplog.text):
        assert CANARY_PASSWORD not in text
    anonymous = Registry(f"oci://{basic_registry.authority}/x", plain_http=True)
    with (
        RegistryClient(anonymous, retry=FAST) as client,
        pytest.raises(
            AuthenticationError, match=r"asks for a username and password \(GET x/demo\)"
        ),
    ):
        client.list_tags("x/demo")


def test_token_auth_push_and_read_back(
    token_registry: RegistryServer, token_issuer: TokenIssuer
) -> None:
    registry = robot_at(token_registry.authority)
    repository = f"{unique_path()}/demo"
    artifact = build_artifact(make_chart())
    with RegistryClient(registry, retry=FAST) as client:
        push(client, repository, artifact)
        assert_complete(client, repository, artifact)
        assert client.stats["tokens_fetched"] == 2  # one for pull,push and one for pull
    assert ROBOT in token_issuer.received_usernames


def test_insufficient_scope_is_denied_without_a_retry_loop(
    token_registry: RegistryServer, token_issuer: TokenIssuer
) -> None:
    # RELIABILITY row 22: a token with no rights, then 401: "denied", no loop.
    token_issuer.grants["nobody"] = []
    USERS.setdefault("nobody", "nobody-password")
    registry = Registry(
        f"oci://{token_registry.authority}/x",
        plain_http=True,
        username="nobody",
        password=Secret("nobody-password"),
    )
    artifact = build_artifact(make_chart())
    with RegistryClient(registry, retry=FAST) as client:
        with pytest.raises(PermissionDeniedError, match="denied"):
            client.push_blob(f"{unique_path()}/demo", artifact.layer_digest, artifact.archive)
        assert client.stats["tokens_fetched"] == 1
        assert client.stats["requests"] <= 3


class Clock:
    """A monotonic clock that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def token_proxy(token_registry: RegistryServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the token-auth registry; it records every Authorization."""
    proxy = FaultProxy(token_registry.port)
    yield proxy
    proxy.close()


def _bearers(proxy: FaultProxy) -> list[str]:
    return [a for a in proxy.authorizations if a.startswith("Bearer ")]


def test_expired_tokens_are_renewed_mid_push(
    token_proxy: FaultProxy, token_issuer: TokenIssuer
) -> None:
    # RELIABILITY row 22: a token expiring mid-push: re-authenticate and continue.
    registry = robot_at(token_proxy.authority)
    repository = f"{unique_path()}/demo"
    first, second = build_artifact(make_chart()), build_artifact(make_chart(version="1.0.1"))
    clock = Clock()
    token_issuer.expire_next = 1  # the very first token arrives expired: the registry refuses it
    try:
        with RegistryClient(registry, retry=FAST, clock=clock) as client:
            client.push_blob(repository, first.config_digest, first.config)
            assert client.stats["tokens_fetched"] == 2
            used = _bearers(token_proxy)
            clock.advance(token_issuer.ttl)  # the cached token has expired now
            client.push_blob(repository, first.layer_digest, first.archive)
            client.put_manifest(repository, first.tag, first.manifest)
            push(client, repository, second)
            assert client.stats["tokens_fetched"] == 3
            later = _bearers(token_proxy)[len(used) :]
            assert later
            assert not set(used) & set(later)  # the expired token was not sent again
    finally:
        token_issuer.expire_next = 0
    with RegistryClient(registry, retry=FAST) as client:
        assert_complete(client, repository, first)
        assert_complete(client, repository, second)


def test_a_cached_token_the_registry_refuses_is_renewed(
    token_proxy: FaultProxy, token_issuer: TokenIssuer
) -> None:
    # The registry may end a token before the client's clock does (skew, a revoked key).
    repository = f"{unique_path()}/demo"
    artifact = build_artifact(make_chart())
    challenge = (
        f'Bearer realm="{token_issuer.realm}",service="{SERVICE}",'
        f'scope="repository:{repository}:pull,push",error="invalid_token"'
    )
    with RegistryClient(robot_at(token_proxy.authority), retry=FAST, clock=Clock()) as client:
        client.push_blob(repository, artifact.config_digest, artifact.config)
        fetched = client.stats["tokens_fetched"]
        token_proxy.add(
            Fault("PUT", r"/manifests/", "401", headers=(("WWW-Authenticate", challenge),))
        )
        client.push_blob(repository, artifact.layer_digest, artifact.archive)
        client.put_manifest(repository, artifact.tag, artifact.manifest)
        assert token_proxy.injected == [
            ("PUT", f"/v2/{repository}/manifests/{artifact.tag}", "401")
        ]
        assert client.stats["tokens_fetched"] == fetched + 1
        assert_complete(client, repository, artifact)


@pytest.fixture
def proxied(fault_proxy: FaultProxy) -> Iterator[tuple[RegistryClient, Sleeps]]:
    sleeps = Sleeps()
    registry = Registry(f"oci://{fault_proxy.authority}/x", plain_http=True)
    with RegistryClient(registry, retry=FAST, sleep=sleeps) as client:
        yield client, sleeps


def test_429_retry_after_and_500_are_retried(
    proxied: tuple[RegistryClient, Sleeps], fault_proxy: FaultProxy
) -> None:
    # RELIABILITY row 24.
    client, sleeps = proxied
    fault_proxy.add(Fault("POST", r"/blobs/uploads/", "429", times=1, retry_after="0.3"))
    fault_proxy.add(Fault("PUT", r"/manifests/", "500", times=2))
    fault_proxy.add(Fault("HEAD", r"/blobs/", "503", times=1))
    artifact = build_artifact(make_chart())
    push(client, "x/demo", artifact)
    assert_complete(client, "x/demo", artifact)
    assert 0.3 in sleeps
    assert len(fault_proxy.injected) == 4
    assert client.stats["status_429"] == 1
    assert client.stats["status_500"] == 2


def test_retries_are_bounded(
    proxied: tuple[RegistryClient, Sleeps], fault_proxy: FaultProxy
) -> None:
    client, sleeps = proxied
    fault_proxy.add(Fault("GET", r"/tags/list", "500", times=100))
    with pytest.raises(ExternalServiceError, match="500"):
        client.list_tags("x/demo")
    assert len(fault_proxy.injected) == FAST.attempts
    assert len(sleeps) == FAST.attempts - 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault("PUT", r"/blobs/uploads/", "drop"),
        Fault("PUT", r"/blobs/uploads/", "lose-response"),
        Fault("POST", r"/blobs/uploads/", "lose-response"),
        Fault("POST", r"/blobs/uploads/", "drop", times=2),
        Fault("PUT", r"/manifests/", "lose-response"),
    ],
    ids=["put-dropped", "put-answer-lost", "post-answer-lost", "post-dropped-twice", "manifest"],
)
def test_lost_connections_and_answers_restart_the_upload(
    proxied: tuple[RegistryClient, Sleeps], fault_proxy: FaultProxy, fault: Fault
) -> None:
    # RELIABILITY row 18: a lost answer, a dropped connection: upload again; tag complete.
    client, _ = proxied
    fault_proxy.add(fault)
    artifact = build_artifact(make_chart())
    push(client, "x/demo", artifact)
    assert fault_proxy.injected
    assert_complete(client, "x/demo", artifact)


def test_lost_upload_session_restarts(
    proxied: tuple[RegistryClient, Sleeps],
    fault_proxy: FaultProxy,
    private_registry: RegistryServer,
) -> None:
    # The registry forgets the session (restarted with another upload secret): 404
    # BLOB_UPLOAD_INVALID/UNKNOWN, then a new upload.
    client, _ = proxied

    def forget_sessions() -> None:
        private_registry.kill()
        config = private_registry.root / "config.yml"
        config.write_text(config.read_text().replace("upload-secret", "other-secret"))
        private_registry.write_config = lambda: config  # type: ignore[method-assign]
        private_registry.start()

    fault_proxy.add(Fault("PUT", r"/blobs/uploads/", "hook", hook=forget_sessions))
    artifact = build_artifact(make_chart())
    push(client, "x/demo", artifact)
    assert client.stats["uploads_restarted"] == 1
    assert_complete(client, "x/demo", artifact)


def test_tags_are_paginated(proxied: tuple[RegistryClient, Sleeps]) -> None:
    client, _ = proxied
    for patch in range(5):
        push(client, "x/demo", build_artifact(make_chart(version=f"1.0.{patch}")))
    assert sorted(client.list_tags("x/demo", page_size=2)) == [f"1.0.{p}" for p in range(5)]


def test_secrets_encrypt_at_rest() -> None:
    key = new_key()
    token = encrypt_secret(Secret(CANARY_PASSWORD), key=key)
    assert CANARY_PASSWORD.encode() not in token
    assert decrypt_secret(token, key=key).reveal() == CANARY_PASSWORD
    with pytest.raises(InputError, match="cannot be decrypted"):
        decrypt_secret(token, key=new_key())
    with pytest.raises(InputError, match="Fernet key"):
        encrypt_secret(Secret("x"), key=b"short")
    registry = Registry(
        "oci://h:5000/p", plain_http=True, username=ROBOT, password=Secret(CANARY_PASSWORD)
    )
    record = seal_registry(registry, key=key)
    assert CANARY_PASSWORD not in repr(record)
    assert record["username"] == ROBOT
    assert open_registry(record, key=key) == registry
    assert open_registry(seal_registry(Registry("oci://h/p"), key=key), key=key).password is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # Harbor's immutable tag rule answers 412.
        (
            "412",
            b'{"errors":[{"code":"PRECONDITION","message":"Failed to process request due to '
            b"'demo:1.0.0' configured as immutable.\"}]}",
        ),
        # Quay answers a 4xx whose message says the tag is immutable.
        ("400", b'{"errors":[{"code":"TAG_INVALID","message":"tag 1.0.0 is immutable"}]}'),
    ],
    ids=["harbor", "quay"],
)
def test_immutability_refusals_are_conflicts_not_retried(
    proxied: tuple[RegistryClient, Sleeps], fault_proxy: FaultProxy, status: str, body: bytes
) -> None:
    # RELIABILITY row 21.
    client, sleeps = proxied
    artifact = build_artifact(make_chart())
    fault_proxy.add(Fault("PUT", r"/manifests/", status, times=10, body=body))
    with pytest.raises(ConflictError, match="immutable"):
        push(client, "x/demo", artifact)
    assert [a for _, _, a in fault_proxy.injected] == [status]
    assert sleeps == []
    assert client.get_manifest("x/demo", artifact.tag) is None


def test_tls_with_a_custom_ca(tls_registry: tuple[RegistryServer, str]) -> None:
    server, ca_pem = tls_registry
    artifact = build_artifact(make_chart())
    trusted = Registry(f"oci://{server.authority}/x", ca_pem=ca_pem)
    with RegistryClient(trusted, retry=FAST) as client:
        push(client, "x/demo", artifact)
        assert_complete(client, "x/demo", artifact)
    untrusted = Registry(f"oci://{server.authority}/x")
    with (
        RegistryClient(untrusted, retry=FAST) as client,
        pytest.raises(ExternalServiceError, match="not trusted"),
    ):
        client.list_tags("x/demo")
    assert client.stats["connection_errors"] == 1  # a certificate problem is not retried
    with pytest.raises(ExternalServiceError, match="CA bundle"):
        RegistryClient(Registry(f"oci://{server.authority}/x", ca_pem="not a pem"))


def test_a_plain_http_registry_loads_no_trust_store_until_a_request_goes_to_https(
    basic_registry: RegistryServer, tls_registry: tuple[RegistryServer, str]
) -> None:
    # Loading the public trust costs a CLI push of published charts a tenth of its time; a
    # plain-HTTP registry never needs it, unless an answer redirects to HTTPS (blob storage).
    tls_server, _ = tls_registry
    oci._public_trust.cache_clear()
    with RegistryClient(robot_at(basic_registry.authority), retry=FAST) as client:
        assert client.list_tags(f"{unique_path()}/demo") == []
        assert oci._public_trust.cache_info().currsize == 0
        # HTTPS from a plain-HTTP client is checked against the public trust, never accepted
        # unchecked: the loopback registry's own CA is not in it.
        with pytest.raises(ExternalServiceError, match="not trusted"):
            client._request(
                "GET",
                f"https://{tls_server.authority}/v2/",
                repository="x/demo",
                actions="pull",
                accept={200, 401},
            )
        assert oci._public_trust.cache_info().currsize == 1


def test_credentials_stay_with_the_registry(
    basic_registry: RegistryServer, private_registry: RegistryServer
) -> None:
    # A Location naming another host gets no Authorization header.
    proxy = FaultProxy(private_registry.port)
    try:
        registry = robot_at(basic_registry.authority)
        with RegistryClient(registry, retry=FAST) as client:
            assert client.list_tags(f"{unique_path()}/demo") == []  # learns basic auth
            elsewhere = f"http://{proxy.authority}/v2/x/demo/tags/list"
            response = client._request(
                "GET", elsewhere, repository="x/demo", actions="pull", accept={200, 404}
            )
            assert response.status_code == 404
        assert proxy.authorizations == []
    finally:
        proxy.close()


def test_token_realm_must_be_https_unless_plain_http(token_registry: RegistryServer) -> None:
    # Basic credentials go to the token realm: over https only, unless plain HTTP was asked.
    # Simulated by a client that believes the registry is https but gets an http realm.
    registry = Registry(f"oci://{token_registry.authority}/x", plain_http=True)
    with RegistryClient(registry, retry=FAST) as client:
        client.registry = Registry(f"oci://{token_registry.authority}/x", plain_http=False)
        with pytest.raises(ExternalServiceError, match="https"):
            client.list_tags("x/demo")


def test_a_registrys_text_error_body_is_summarized_not_passed_on(
    proxied: tuple[RegistryClient, Sleeps], fault_proxy: FaultProxy
) -> None:
    client, _ = proxied
    reflected = f"403 from the proxy; you sent Authorization: Basic {CANARY_PASSWORD}".encode()
    fault_proxy.add(
        Fault("PUT", r"/manifests/", "403", times=10, body=reflected, content_type="text/plain")
    )
    with pytest.raises(PermissionDeniedError, match=r"a \d+-byte text/plain body") as caught:
        push(client, "x/demo", build_artifact(make_chart()))
    assert CANARY_PASSWORD not in str(caught.value)
    assert "you sent" not in str(caught.value)


def test_credentials_in_a_registrys_json_error_message_are_masked(
    proxied: tuple[RegistryClient, Sleeps], fault_proxy: FaultProxy
) -> None:
    client, _ = proxied
    body = (
        b'{"errors":[{"code":"DENIED","message":"no access for Bearer '
        + CANARY_PASSWORD.encode()
        + b" at https://robot:"
        + CANARY_PASSWORD.encode()
        + b'@h/x"}]}'
    )
    fault_proxy.add(Fault("PUT", r"/manifests/", "403", times=10, body=body))
    with pytest.raises(PermissionDeniedError, match=r"no access for \*\*\* at https://\*\*\*@h/x"):
        push(client, "x/demo", build_artifact(make_chart()))
