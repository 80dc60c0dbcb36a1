"""RegistryClient against peers that hang or flood: every request ends by its deadline with
an error naming the registry, and no answer is read past its byte budget."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from helmforge.adapters.oci import RegistryClient
from helmforge.core.errors import ExternalServiceError
from helmforge.core.oci.references import Registry
from tests.support.peers import ScriptedPeer, SilentPeer

TINY = 0.2  # seconds: the deadline these tests give; only the error is asserted, not timing


@pytest.fixture
def silent() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    yield peer
    peer.close()


def client_of(authority: str, *, deadline: float) -> RegistryClient:
    return RegistryClient(Registry(f"oci://{authority}/charts", plain_http=True), deadline=deadline)


def test_a_registry_that_accepts_and_never_answers_fails_at_the_deadline(
    silent: SilentPeer,
) -> None:
    with (
        client_of(silent.authority, deadline=TINY) as client,
        pytest.raises(
            ExternalServiceError,
            match=rf"registry {silent.authority}: GET charts/demo did not complete within its "
            rf"{TINY:g} s deadline",
        ),
    ):
        client.list_tags("charts/demo")


def test_an_answer_that_stops_halfway_is_cut_off_at_the_deadline() -> None:
    stalled = threading.Event()

    def start_then_stall(connection: socket.socket) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
        )
        stalled.wait()  # until the test is over: the client must give up by itself

    peer = ScriptedPeer(start_then_stall)
    try:
        with (
            client_of(peer.authority, deadline=TINY) as client,
            pytest.raises(ExternalServiceError, match=rf"registry {peer.authority}: .*deadline"),
        ):
            client.list_tags("charts/demo")
    finally:
        stalled.set()
        peer.close()


def test_a_huge_manifest_streamed_by_the_registry_is_refused_past_4_mib() -> None:
    sent = [0]
    body = 64 << 20
    chunk = b"x" * (64 << 10)

    def flood(connection: socket.socket) -> None:
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        while sent[0] < body:
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent[0] += len(chunk)
        connection.sendall(b"0\r\n\r\n")

    peer = ScriptedPeer(flood)
    try:
        with (
            client_of(peer.authority, deadline=60) as client,
            pytest.raises(ExternalServiceError, match=r"the answer is over 4194304 bytes"),
        ):
            client.get_manifest("charts/demo", "1.0.0")
        peer.done.wait()
    finally:
        peer.close()
    # The client stopped reading at the budget: the peer could not send more than that and
    # what the sockets' buffers hold, far from the whole body.
    assert sent[0] < 32 << 20


def test_a_declared_huge_manifest_is_refused_before_reading() -> None:
    stalled = threading.Event()

    def declare_300_mb(connection: socket.socket) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n")
        stalled.wait()

    peer = ScriptedPeer(declare_300_mb)
    try:
        with (
            client_of(peer.authority, deadline=60) as client,
            pytest.raises(
                ExternalServiceError,
                match=rf"{peer.authority}: GET charts/demo: the answer is over 4194304 bytes",
            ),
        ):
            client.get_manifest("charts/demo", "1.0.0")
    finally:
        stalled.set()
        peer.close()
