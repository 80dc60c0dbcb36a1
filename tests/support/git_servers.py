"""Real Git remotes on loopback: bare repositories behind ``git http-backend`` (smart HTTP with
basic auth) and behind Debian's ``openssh-server``.

Never a file path: libgit2 pushes to a path in process and skips the server's hooks, so a test
of a declining hook would pass wrongly (RELIABILITY row 49). Both servers run ``git
receive-pack`` as a real server does, hooks included.

- ``bare_repository(root, name, files)``: ``git init --bare`` plus a first commit of ``files``.
- ``HttpGitServer``: a threaded HTTP server that checks basic auth and runs the CGI; it records
  every ref update a client sent (``received``: old, new, ref) from the receive-pack request.
- ``SshGitServer``: ``/usr/sbin/sshd`` on a free port with its own host key, config and
  authorized_keys in a temporary folder; ``known_hosts`` pins its host key.
- ``install_hook``: a hook script; ``HangingHook`` blocks a hook on a FIFO until released.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.servers import UPPER_BOUND, free_port

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
SSHD = "/usr/sbin/sshd"
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "GIT_AUTHOR_NAME": "seed",
    "GIT_AUTHOR_EMAIL": "seed@example.com",
    "GIT_COMMITTER_NAME": "seed",
    "GIT_COMMITTER_EMAIL": "seed@example.com",
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
}


def ed25519_key_pair() -> tuple[str, str]:
    """A new Ed25519 key: the private key as OpenSSH writes it (no passphrase) and the public
    key as ``ssh-ed25519 BASE64`` (a known_hosts line's KEYTYPE KEY)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private.decode(), public.decode()


def git(*args: str, cwd: Path | None = None, input_text: str | None = None) -> str:
    """Run the git CLI (the reference implementation) for setting up and checking a remote."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        input=input_text,
        timeout=UPPER_BOUND,
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def bare_repository(root: Path, name: str, files: Mapping[str, str] | None = None) -> Path:
    """A bare repository ``root/name.git`` whose branch ``main`` holds ``files`` (if any)."""
    path = root / f"{name}.git"
    git("init", "-q", "--bare", "-b", "main", str(path))
    git("-C", str(path), "config", "http.receivepack", "true")
    if files:
        seed = root / f"{name}-seed"
        git("init", "-q", "-b", "main", str(seed))
        for relative, text in files.items():
            target = seed / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        git("-C", str(seed), "add", "-A")
        git("-C", str(seed), "commit", "-q", "-m", "seed")
        git("-C", str(seed), "push", "-q", str(path), "main")
    return path


def head_of(repository: Path, branch: str = "main") -> str | None:
    done = subprocess.run(
        ["git", "-C", str(repository), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def install_hook(repository: Path, name: str, script: str) -> None:
    hook = repository / "hooks" / name
    hook.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@dataclass
class HangingHook:
    """A pre-receive hook that blocks reading a FIFO: ``release`` lets it exit (declining)."""

    repository: Path
    fifo: Path = field(init=False)

    def __post_init__(self) -> None:
        self.fifo = self.repository / "hang.fifo"
        os.mkfifo(self.fifo)
        install_hook(self.repository, "pre-receive", f"read line < '{self.fifo}'\nexit 1\n")

    def release(self) -> None:
        with contextlib.suppress(OSError):  # ENXIO: the hook never started, nothing to release
            descriptor = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(descriptor, b"go\n")
            os.close(descriptor)


# --- smart HTTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefUpdate:
    """One command of a receive-pack request, as the client sent it."""

    old: str
    new: str
    ref: str


def _ref_updates(body: bytes) -> list[RefUpdate]:
    updates: list[RefUpdate] = []
    position = 0
    while position + 4 <= len(body):
        size = int(body[position : position + 4], 16)
        if size == 0:
            break
        line = body[position + 4 : position + size].split(b"\0", 1)[0].decode().strip()
        old, new, ref = line.split(" ", 2)
        updates.append(RefUpdate(old, new, ref))
        position += size
    return updates


class _GitHandler(BaseHTTPRequestHandler):
    server: _GitHttpd
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the second waits for the
    # client's delayed ACK (40 ms on loopback), once per request; a real Git server has no
    # such pause.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        owner = self.server.owner
        body = self._body() if self.command == "POST" else b""
        if owner.before is not None:
            owner.before(self.command, self.path)
        expected = base64.b64encode(f"{owner.username}:{owner.password}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        path, _, query = self.path.partition("?")
        if path.endswith("/git-receive-pack"):
            owner.received.extend(_ref_updates(body))
        environment = GIT_ENV | {
            "GIT_PROJECT_ROOT": str(owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": owner.username,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(
            [HTTP_BACKEND], input=body, env=environment, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split(" ")[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _GitHttpd(ThreadingHTTPServer):
    daemon_threads = True
    owner: HttpGitServer


@dataclass
class HttpGitServer:
    """``git http-backend`` for every repository under ``root`` on ``http://127.0.0.1:port``."""

    root: Path
    username: str
    password: str
    received: list[RefUpdate] = field(default_factory=list)
    #: Called with each request's method and path before it is answered (a test's gate).
    before: Callable[[str, str], None] | None = None
    _server: _GitHttpd | None = None

    def url(self, repository: Path) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/{repository.name}"

    @contextlib.contextmanager
    def running(self) -> Iterator[HttpGitServer]:
        server = _GitHttpd(("127.0.0.1", 0), _GitHandler)
        server.owner = self
        self._server = server
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=UPPER_BOUND)

    @contextlib.contextmanager
    def hanging(self) -> Iterator[None]:
        """Stop the server and hold its port with a socket that accepts connections (the
        kernel's backlog) and never answers, for the block: a remote that hangs."""
        assert self._server is not None
        port = self._server.server_port
        self._server.shutdown()
        self._server.server_close()
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(16)
        try:
            yield
        finally:
            holder.close()


# --- SSH -----------------------------------------------------------------------------------


@dataclass
class SshGitServer:
    """``sshd`` on 127.0.0.1 with its own host key; the client key is ``private_key``."""

    folder: Path
    port: int = 0
    private_key: str = ""
    known_hosts: str = ""
    _process: subprocess.Popen[str] | None = None

    def url(self, repository: Path) -> str:
        user = (
            os.environ.get("USER")
            or subprocess.run(
                ["id", "-un"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        return f"ssh://{user}@127.0.0.1:{self.port}{repository}"

    @contextlib.contextmanager
    def running(self) -> Iterator[SshGitServer]:
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)],
                check=True,
                capture_output=True,
            )
        (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
        self.private_key = (folder / "client_key").read_text()
        self.port = free_port()
        host_key = (folder / "host_key.pub").read_text().split()[:2]
        self.known_hosts = f"[127.0.0.1]:{self.port} {' '.join(host_key)}\n"
        config = folder / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel INFO\n"
            f"SetEnv GIT_CONFIG_NOSYSTEM=1\n",
            encoding="utf-8",
        )
        if os.geteuid() == 0:
            # sshd started by root needs its privilege-separation folder (compiled in).
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True
        )
        self._process = process
        assert process.stderr is not None
        started = threading.Event()
        lines: list[str] = []

        def read_log() -> None:
            assert process.stderr is not None
            with contextlib.suppress(ValueError):  # the pipe closed by the teardown below
                for line in process.stderr:
                    lines.append(line)
                    if "Server listening" in line:
                        started.set()
            started.set()

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()
        try:
            assert started.wait(UPPER_BOUND), "sshd did not start"
            assert process.poll() is None, f"sshd exited: {''.join(lines)}"
            yield self
        finally:
            process.terminate()
            process.wait(timeout=UPPER_BOUND)
            # The reader ends at end of file once sshd has exited; closing the pipe under it
            # would make its next read raise in the thread.
            reader.join(UPPER_BOUND)
            process.stderr.close()
