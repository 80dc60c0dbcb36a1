"""GitOps writes under load (DESIGN §6): many editors of one repository through the real HTTP
API, beside the ``git commit && git push`` loop a team would script instead.

One run, side by side:

- editors: ``helmforge serve --workers N`` on PostgreSQL (a fresh database on 127.0.0.1:5432),
  a GitOps repository behind ``git http-backend`` on loopback (smart HTTP, basic auth, hooks
  run), a Debian docker-registry for the instances' charts. EDITORS concurrent editors, each on
  its own kept-alive connection, make EDITS edits each over INSTANCES instances (editor ``e``
  edits instance ``e mod INSTANCES``): GET the instance (ETag), PUT its values with
  ``If-Match``; on 409 the editor retries on the revision the answer names, until accepted.
  Every edit sets a value no other edit sets, so Git tells which edit each commit is.
  Reported: accepted edits, 409s, the editors' retries and the server's (a push that lost a
  race, retried on the new head), pushes and commits per push, p50/p95 of an edit (first GET
  to its 200) and of a PUT, PUTs answered and edits accepted per second; then, read from the
  remote repository itself, commits (must equal accepted edits), lost updates (an accepted
  commit whose parent does not hold the instance as its editor saw it; must be 0) and edits
  committed twice (must be 0). Two workers group their own edits and take turns through the
  lock; the ceiling is one accepted edit per instance per push, as every accepted edit of an
  instance must have been made on the one before it (If-Match). In practice about half of
  it is reached: an edit answered by one group (409 naming the new revision, or 200) comes
  back after the next group was taken (the answer, the round trip and the instance's reads
  take longer than a group), so groups alternate on an instance. A group builds on the
  cache's head without a fetch and fetches only when the remote moved;
- the CLI loop: the same accepted edits, in the same order, by one writer in a clone of the
  same remote: write values.yaml, ``git commit -qam MSG && git push -q`` (two processes per
  edit, as a script runs them). Ratio: helmforge's accepted edits per second over the loop's
  (goal >= 10);
- the ceiling, measured beside them: PUSH_LOOP_EDITS pygit2 commits and pushes by one writer
  (``commit_group`` of one on its cache's head, the least a group costs). If-Match allows one
  accepted edit per instance per push, so INSTANCES over that push time bounds helmforge's
  accepted edits per second, and its ratio to the loop bounds the speedup, however fast the
  rest of a PUT is (4.7 in one run on a loaded 2-core machine: a push took 221 ms, the
  loop's commit and push 208 ms). A speedup of 10 needs more instances edited at once;
- rejections: a pre-receive hook declining 10 %, 50 % and 100 % of pushes (every push whose
  number crosses the next multiple of the rate; it logs the commits of each push it declines
  or accepts). REJECT_EDITORS editors, each on its own instance, make REJECT_EDITS edits; a
  502 is retried once with the same ``If-Match`` (what a user pressing Save again does).
  Checked against the remote and the API: failed edits equal the commits in declined pushes
  (injected), accepted edits equal the commits in accepted pushes, 0 edits committed twice,
  0 "saved but not pushed" (an accepted edit missing from the remote, a failed one in it, or
  an instance whose revision or values the API answers differently from the remote).

``HELMFORGE_BENCH_QUICK=1`` runs a small size (10 editors x 4 edits, 5 x 4 with rejections) in
about a minute; ``HELMFORGE_BENCH_WORKERS`` sets N (default: the cores). Each worker gets
HELMFORGE_THREADS=64: an edit waiting for its group holds a thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from benchmarks.server import HELMFORGE, _database, _free_port, _percentile, _token

if TYPE_CHECKING:
    from tests.support.git_servers import HttpGitServer

QUICK = os.environ.get("HELMFORGE_BENCH_QUICK") == "1"
EDITORS = 10 if QUICK else 50
EDITS = 4 if QUICK else 20
INSTANCES = 5
REJECT_EDITORS = 5 if QUICK else 10
REJECT_EDITS = 4 if QUICK else 10
REJECT_RATES = (10, 50, 100)
THREADS = 64
GIT_USER = "bench-bot"
GIT_PASSWORD = "bench-password-not-a-secret"
BASE = "clusters/bench"
GOAL_SPEEDUP = 10.0
PUSH_LOOP_EDITS = 20 if QUICK else 100


def _segments(number: int) -> dict[str, str]:
    return {"product": "shop", "customer": "acme", "environment": "dev", "instance": f"i{number}"}


def _api_path(number: int) -> str:
    return "/api/v1/instances/shop/acme/dev/" + f"i{number}"


def _values_path(number: int) -> str:
    return f"{BASE}/shop/acme/dev/i{number}/values.yaml"


# --- a small HTTP/1.1 client: on a 2-core machine the load generator's CPU is the server's ---


class _Connection:
    def __init__(self, base: str, token: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> _Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.writer is not None
        self.writer.close()

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        assert self.reader is not None
        assert self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: Bearer {self.token}",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        answer_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                answer_headers[name.strip().lower()] = value.strip()
        data = await self.reader.readexactly(int(answer_headers.get("content-length", "0")))
        return int(status_line.split()[1]), answer_headers, json.loads(data) if data else None


# --- the pieces: a Git remote with a hook log, a registry, the server ------------------------


@dataclass
class _Lab:
    root: Path
    remote: Path
    url: str
    registry: str
    server: HttpGitServer

    def pushes(self) -> int:
        """Ref updates the Git server has received (one per push of a branch)."""
        return len(self.server.received)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        from tests.support.git_servers import git

        return git(*args, cwd=cwd)

    def head(self) -> str:
        return self.git("-C", str(self.remote), "rev-parse", "main").strip()

    def install_rejections(self, rate: int, folder: Path) -> tuple[Path, Path]:
        """A pre-receive hook declining ``rate`` % of pushes; the files it logs the commit
        counts of declined and accepted pushes to."""
        from tests.support.git_servers import install_hook

        folder.mkdir(parents=True)
        counter, declined, accepted = folder / "pushes", folder / "declined", folder / "accepted"
        install_hook(
            self.remote,
            "pre-receive",
            f"read old new ref\n"
            f"n=$(( $(cat '{counter}' 2>/dev/null || echo 0) + 1 ))\necho $n > '{counter}'\n"
            'commits=$(git rev-list --count "$old..$new")\n'
            f"if [ $(( n * {rate} / 100 )) -gt $(( (n - 1) * {rate} / 100 )) ]; then\n"
            f"  echo $commits >> '{declined}'\n"
            '  echo "bench: push $n declined" >&2\n  exit 1\nfi\n'
            f"echo $commits >> '{accepted}'\n",
        )
        return declined, accepted

    def remove_hook(self) -> None:
        (self.remote / "hooks" / "pre-receive").unlink(missing_ok=True)


@contextmanager
def _lab(root: Path) -> Iterator[_Lab]:
    from tests.support.git_servers import HttpGitServer, bare_repository
    from tests.support.registry import RegistryServer

    registry = RegistryServer(root / "registry")
    registry.root.mkdir(parents=True)
    registry.start()
    server = HttpGitServer(root / "remotes", GIT_USER, GIT_PASSWORD)
    server.root.mkdir(parents=True)
    remote = bare_repository(server.root, "gitops", {"README.md": "gitops\n"})
    try:
        with server.running():
            yield _Lab(root, remote, server.url(remote), registry.authority, server)
    finally:
        registry.stop()


@contextmanager
def _server(url: str, data_dir: Path, workers: int) -> Iterator[str]:
    port = _free_port()
    environment = {
        **os.environ,
        "HELMFORGE_DATABASE_URL": url,
        "HELMFORGE_DATA_DIR": str(data_dir),
        "HELMFORGE_THREADS": str(THREADS),
        "HELMFORGE_LOG_FORMAT": "json",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [str(HELMFORGE), "serve", "--port", str(port), "--workers", str(workers)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"helmforge serve did not start; see {data_dir}/server.log")
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _push_retries(data_dir: Path) -> int:
    """Pushes the server retried on a new head after losing a race (its log says so)."""
    text = (data_dir / "server.log").read_text(errors="replace")
    return text.count("fetching the new head")


def _prepare(base: str, token: str, lab: _Lab, instances: int) -> dict[int, str]:
    """The repository, the registry and ``instances`` instances; their revisions."""
    revisions = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
        added = c.post("/api/v1/gitops/repositories", json={
            "name": "gitops", "url": lab.url, "path": BASE,
            "username": GIT_USER, "password": GIT_PASSWORD,
        })  # fmt: skip
        assert added.status_code == 201, added.text
        registry = c.post("/api/v1/registries", json={
            "name": "lab", "url": f"oci://{lab.registry}/bench", "plain_http": True,
        })  # fmt: skip
        assert registry.status_code == 201, registry.text
        for number in range(instances):
            created = c.post("/api/v1/instances", json={
                **_segments(number), "template": "web-service@1.2.0", "version": "3.4.0",
                "registry": "lab", "repository": "gitops", "values": {"replicaCount": 1},
            })  # fmt: skip
            assert created.status_code == 201, created.text
            revisions[number] = created.json()["revision"]
    return revisions


# --- editors -----------------------------------------------------------------------------------


@dataclass
class _Accepted:
    instance: int
    value: int
    revision: str
    seen: str


@dataclass
class _Tally:
    accepted: list[_Accepted] = field(default_factory=list)
    conflicts: int = 0
    retries: int = 0
    failures: int = 0
    failed_values: list[tuple[int, int]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    edit_seconds: list[float] = field(default_factory=list)
    put_seconds: list[float] = field(default_factory=list)


async def _editor(
    base: str,
    token: str,
    tally: _Tally,
    instance: int,
    values: list[int],
    *,
    retry_failed: int,
) -> None:
    path = _api_path(instance)
    async with _Connection(base, token) as connection:
        revision: str | None = None
        for value in values:
            started = time.perf_counter()
            if revision is None:
                status, headers, body = await connection.call("GET", path)
                if status != 200:
                    tally.other.append(f"GET {path}: {status} {body}")
                    return
                revision = headers["etag"].strip('"')
            failed_left = retry_failed
            while True:
                put = time.perf_counter()
                status, _, body = await connection.call(
                    "PUT",
                    path + "/values",
                    {"values": {"replicaCount": value}, "message": f"bench edit {value}"},
                    {"If-Match": f'"{revision}"'},
                )
                tally.put_seconds.append(time.perf_counter() - put)
                if status == 200 and body["committed"]:
                    tally.accepted.append(_Accepted(instance, value, body["revision"], revision))
                    tally.edit_seconds.append(time.perf_counter() - started)
                    revision = body["revision"]
                    break
                if status == 409 and body.get("current_revision"):
                    tally.conflicts += 1
                    tally.retries += 1
                    revision = body["current_revision"]  # read what is there now, edit again
                    continue
                if status == 502:
                    tally.failures += 1
                    if failed_left > 0:
                        failed_left -= 1
                        tally.retries += 1
                        continue
                    tally.failed_values.append((instance, value))
                    break
                tally.other.append(f"PUT {path}={value}: {status} {body}")
                return


def _drive(
    base: str, token: str, work: list[tuple[int, list[int]]], *, retry_failed: int
) -> tuple[_Tally, float]:
    tally = _Tally()

    async def everyone() -> None:
        await asyncio.gather(
            *(
                _editor(base, token, tally, instance, values, retry_failed=retry_failed)
                for instance, values in work
            )
        )

    started = time.perf_counter()
    asyncio.run(everyone())
    return tally, time.perf_counter() - started


# --- what the remote holds -------------------------------------------------------------------


@dataclass
class _Commit:
    revision: str
    parent: str
    instance: int | None
    value: int | None


def _history(lab: _Lab, since: str, instances: int) -> list[_Commit]:
    """The commits on main after ``since``, oldest first, with the instance whose values
    each changed and the replicaCount it set."""
    import pygit2

    from helmforge.core.yaml_codec import load_single

    repo = pygit2.Repository(str(lab.remote))
    found: list[_Commit] = []
    walker = repo.walk(repo.references["refs/heads/main"].target)
    walker.simplify_first_parent()
    for commit in walker:
        if str(commit.id) == since:
            break
        parent = commit.parents[0]
        changed = None
        value = None
        for number in range(instances):
            path = _values_path(number)
            try:
                entry = commit.tree[path]
            except KeyError:
                continue
            try:
                before = parent.tree[path].id
            except KeyError:
                before = None
            if entry.id != before:
                changed = number
                blob = repo[entry.id].peel(pygit2.Blob)
                data = load_single(blob.data.decode(), source=path).data
                value = (data or {}).get("replicaCount")
        found.append(_Commit(str(commit.id), str(parent.id), changed, value))
    found.reverse()
    return found


def _last_change_before(
    history: list[_Commit], index: int, instance: int, start: dict[int, str]
) -> str:
    for commit in reversed(history[:index]):
        if commit.instance == instance:
            return commit.revision
    return start[instance]


def _verify_editors(tally: _Tally, history: list[_Commit], start: dict[int, str]) -> dict[str, int]:
    by_revision = {commit.revision: index for index, commit in enumerate(history)}
    lost = 0
    for edit in tally.accepted:
        index = by_revision.get(edit.revision)
        if index is None or history[index].value != edit.value:
            lost += 1  # answered 200, not in Git as it was answered
            continue
        if _last_change_before(history, index, edit.instance, start) != edit.seen:
            lost += 1  # committed over a change its editor never saw
    values = [commit.value for commit in history if commit.value is not None]
    return {
        "commits": len(history),
        "lost_updates": lost,
        "edits_committed_twice": len(values) - len(set(values)),
    }


# --- the CLI loop ------------------------------------------------------------------------------


def _cli_loop(lab: _Lab, edits: list[_Accepted], folder: Path) -> float:
    """One writer doing ``edits`` in order in a clone: the seconds it took."""
    authenticated = lab.url.replace("http://", f"http://{GIT_USER}:{GIT_PASSWORD}@")
    lab.git("clone", "-q", authenticated, str(folder))
    environment = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(folder.parent),
        "GIT_AUTHOR_NAME": "cli",
        "GIT_AUTHOR_EMAIL": "cli@example.com",
        "GIT_COMMITTER_NAME": "cli",
        "GIT_COMMITTER_EMAIL": "cli@example.com",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    started = time.perf_counter()
    for edit in edits:
        (folder / _values_path(edit.instance)).write_text(f"replicaCount: {edit.value}\n")
        subprocess.run(
            f"git commit -qam 'cli edit {edit.value}' && git push -q origin HEAD:main",
            shell=True,
            cwd=folder,
            env=environment,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


def _push_loop(lab: _Lab, edits: list[_Accepted], folder: Path) -> float:
    """The seconds of one pygit2 commit and push per edit (``commit_group`` of one on the
    cache's head, as a group after our own push is built), by one writer: what a group of
    helmforge costs at least, whatever it holds."""
    from helmforge.adapters import git

    credentials = git.GitCredentials(username=GIT_USER, password=GIT_PASSWORD)
    remote = git.GitRemote(url=lab.url, branch="main", credentials=credentials)
    repository = git.GitRepository(remote, folder)
    repository.fetch()
    author = git.CommitAuthor("loop", "loop@example.com")
    started = time.perf_counter()
    for edit in edits:
        files = {_values_path(edit.instance): f"replicaCount: {edit.value + 500_000}\n".encode()}
        request = git.CommitRequest(
            lambda _, files=files: files,
            author,
            f"loop edit {edit.value}",
        )
        (answer,) = repository.commit_group([request], trust_cache=True).answers
        assert not isinstance(answer, Exception), answer
    return time.perf_counter() - started


# --- rejections ---------------------------------------------------------------------------------


def _rejections(base: str, token: str, lab: _Lab, rate: int, first_value: int) -> dict[str, float]:
    declined_log, accepted_log = lab.install_rejections(rate, lab.root / f"hook-{rate}")
    start = lab.head()
    try:
        work = [
            (number, [first_value + number * 1000 + k for k in range(REJECT_EDITS)])
            for number in range(REJECT_EDITORS)
        ]
        tally, seconds = _drive(base, token, work, retry_failed=1)
    finally:
        lab.remove_hook()

    def counts(log: Path) -> list[int]:
        return [int(line) for line in log.read_text().split()] if log.exists() else []

    declined, accepted = counts(declined_log), counts(accepted_log)
    history = _history(lab, start, REJECT_EDITORS)
    in_git = {(c.instance, c.value) for c in history}
    answered = {(edit.instance, edit.value) for edit in tally.accepted}
    failed = set(tally.failed_values)
    not_pushed = len(answered - in_git) + len(failed & in_git)
    values = [commit.value for commit in history if commit.value is not None]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        for number in range(REJECT_EDITORS):
            shown = client.get(_api_path(number))
            mine = [c for c in history if c.instance == number]
            if not mine:
                continue
            wanted = {"replicaCount": mine[-1].value}
            revision = shown.headers["ETag"].strip('"')
            if revision != mine[-1].revision or shown.json()["values"] != wanted:
                not_pushed += 1
    return {
        f"reject_{rate}_pushes": len(declined) + len(accepted),
        f"reject_{rate}_declined_pushes": len(declined),
        f"reject_{rate}_injected": sum(declined),
        f"reject_{rate}_failures": tally.failures,
        f"reject_{rate}_accepted": len(tally.accepted),
        f"reject_{rate}_commits": len(history),
        f"reject_{rate}_commits_in_accepted_pushes": sum(accepted),
        f"reject_{rate}_edits_committed_twice": len(values) - len(set(values)),
        f"reject_{rate}_saved_but_not_pushed": not_pushed,
        f"reject_{rate}_other_answers": len(tally.other),
        f"reject_{rate}_seconds": seconds,
        f"reject_{rate}_accepted_per_s": len(tally.accepted) / seconds,
    }


# --- the run -----------------------------------------------------------------------------------


def run() -> dict[str, float | str]:
    workers = int(os.environ.get("HELMFORGE_BENCH_WORKERS", os.cpu_count() or 1))
    instances = max(INSTANCES, REJECT_EDITORS)
    figures: dict[str, float | str] = {
        "editors": EDITORS,
        "edits_per_editor": EDITS,
        "instances": INSTANCES,
        "server_workers": workers,
    }
    with tempfile.TemporaryDirectory(prefix="helmforge-bench-gitops-") as scratch:
        root = Path(scratch)
        with _lab(root) as lab, _database() as url, _server(url, root / "data", workers) as base:
            token = _token(url)
            start = _prepare(base, token, lab, instances)
            head, pushes = lab.head(), lab.pushes()
            work = [
                (editor % INSTANCES, [10_000 + editor * 100 + k for k in range(EDITS)])
                for editor in range(EDITORS)
            ]
            tally, seconds = _drive(base, token, work, retry_failed=0)
            history = _history(lab, head, INSTANCES)
            checks = _verify_editors(tally, history, start)
            pushes = lab.pushes() - pushes
            figures.update(
                {
                    "accepted_edits": len(tally.accepted),
                    "conflicts_409": tally.conflicts,
                    "retries": tally.retries,
                    "server_push_retries": _push_retries(root / "data"),
                    "failed_edits": tally.failures,
                    "other_answers": len(tally.other),
                    "commits": checks["commits"],
                    "commits_equal_accepted": "yes"
                    if checks["commits"] == len(tally.accepted)
                    else "NO",
                    "pushes": pushes,
                    "commits_per_push": checks["commits"] / max(1, pushes),
                    "lost_updates": checks["lost_updates"],
                    "edits_committed_twice": checks["edits_committed_twice"],
                    "edit_p50_ms": statistics.median(tally.edit_seconds) * 1000,
                    "edit_p95_ms": _percentile(tally.edit_seconds, 0.95) * 1000,
                    "put_p50_ms": statistics.median(tally.put_seconds) * 1000,
                    "put_p95_ms": _percentile(tally.put_seconds, 0.95) * 1000,
                    "seconds": seconds,
                    "answers_per_s": len(tally.put_seconds) / seconds,
                    "accepted_per_s": len(tally.accepted) / seconds,
                }
            )
            position = {commit.revision: index for index, commit in enumerate(history)}
            ordered = sorted(tally.accepted, key=lambda edit: position.get(edit.revision, 0))
            cli_seconds = _cli_loop(lab, ordered, root / "cli")
            figures["cli_seconds"] = cli_seconds
            figures["cli_edits_per_s"] = len(ordered) / cli_seconds
            figures["speedup_vs_cli"] = float(figures["accepted_per_s"]) / float(
                figures["cli_edits_per_s"]
            )
            figures["goal_speedup_ge_10"] = (
                "met" if float(figures["speedup_vs_cli"]) >= GOAL_SPEEDUP else "missed"
            )
            # The ceiling of If-Match on INSTANCES hot instances: one accepted edit per
            # instance per push, and a push costs at least a pygit2 commit and push.
            looped = ordered[:PUSH_LOOP_EDITS]
            push_seconds = _push_loop(lab, looped, root / "push-loop") / max(1, len(looped))
            figures["push_loop_ms"] = push_seconds * 1000
            figures["cli_edit_ms"] = cli_seconds / max(1, len(ordered)) * 1000
            figures["ceiling_accepted_per_s"] = INSTANCES / push_seconds
            figures["ceiling_speedup_vs_cli"] = float(figures["ceiling_accepted_per_s"]) / float(
                figures["cli_edits_per_s"]
            )
            for number, rate in enumerate(REJECT_RATES):
                figures.update(_rejections(base, token, lab, rate, 1_000_000 * (number + 1)))
                figures[f"reject_{rate}_failures_equal_injected"] = (
                    "yes"
                    if figures[f"reject_{rate}_failures"] == figures[f"reject_{rate}_injected"]
                    else "NO"
                )
            figures["load_average_1min"] = round(os.getloadavg()[0], 2)
            if tally.other:
                print("  unexpected answers (first 5):", *tally.other[:5], sep="\n    ")
    print(
        f"GitOps benchmark: {EDITORS} editors x {EDITS} edits over {INSTANCES} instances of one "
        f"repository, PostgreSQL, {workers} server worker(s), git over smart HTTP"
        + (" (HELMFORGE_BENCH_QUICK)" if QUICK else "")
    )
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"  {key:44} {shown}")
    return figures


if __name__ == "__main__":
    run()
