"""Misbehaving HTTP peers on loopback: one that accepts connections and never answers (until
told to), and one that answers each request with whatever a test writes to the socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def _listening_socket() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


def _read_head(connection: socket.socket) -> bytes:
    """The request line and headers (the bodies these peers get are ignored)."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(65536)
        if not chunk:
            break
        head += chunk
    return head


class SilentPeer:
    """Accepts every connection and sends nothing until ``release``; counts connections."""

    def __init__(self) -> None:
        self._listener = _listening_socket()
        self._held: list[socket.socket] = []
        self._changed = threading.Condition()
        self._answer: bytes | None = None
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def connections(self) -> int:
        with self._changed:
            return len(self._held)

    def wait_for_connections(self, count: int) -> None:
        """Block until ``count`` connections have been accepted (and left unanswered)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._held) >= count)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._changed:
                answer = self._answer
                self._held.append(connection)
                self._changed.notify_all()
            if answer is not None:
                self._reply(connection, answer)

    @staticmethod
    def _reply(connection: socket.socket, answer: bytes) -> None:
        try:
            _read_head(connection)
            connection.sendall(answer)
        except OSError:
            pass
        finally:
            connection.close()

    def release(
        self, answer: bytes = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    ) -> None:
        """Answer every held connection, and every later one, with ``answer``."""
        with self._changed:
            self._answer = answer
            held = list(self._held)
        for connection in held:
            self._reply(connection, answer)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join()
        with self._changed:
            for connection in self._held:
                connection.close()


class ScriptedPeer:
    """Reads each request's head, then hands the socket to ``respond``; ``done`` is set when
    the first answer has ended (written whole, or cut off by the client)."""

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        self._listener = _listening_socket()
        self._respond = respond
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        try:
            _read_head(connection)
            self._respond(connection)
        except OSError:
            pass
        finally:
            connection.close()
            self.done.set()

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join()
