"""GitOps repositories through pygit2 (libgit2), in process and without a working tree.

One ``GitRepository`` is one remote branch and a bare cache repository on disk:

- ``fetch`` brings the branch into the cache (``refs/remotes/origin/<branch>``);
- ``commit_group`` fetches, asks each edit of a group in turn for its changed files *on the
  head as the edits before it left it* (each re-applies its structured edit there), builds
  blobs, trees and one commit per edit in process, each on the one before, and pushes the
  last one without force: one push for the group. An edit that refuses (its revision is
  stale, its values invalid) is that edit's answer alone; the others go on. A push the remote
  refuses as not a fast-forward (someone pushed in between) is retried on the new head, a
  bounded number of times. An edit that changes nothing on the new head (our earlier push
  did land after all) makes no commit, so a retry never duplicates one. ``commit_and_push``
  is a group of one. With ``trust_cache`` a group first builds on the cache's head without
  a fetch and pushes only if the remote advertises exactly that head (else it fetches and
  builds again, each edit asked anew): a fetch saved per group when nobody else pushed.

Pushing never uses a ``+`` refspec, and the push-negotiation callback refuses any update that is
not a fast-forward of what the remote advertised, so a lost update cannot come from here.
pygit2's ``Remote.push`` returns normally when the server rejects a ref (a pre-receive hook
declining): the per-ref result arrives only in ``push_update_reference``, which is checked.

Credentials come in as parameters, never from the environment: HTTPS username and password (or
token), or an SSH private key with a pinned ``known_hosts`` (libssh2 reads known_hosts from
libgit2's home directory, which is pointed at a private folder for the operation). They never
appear in errors or logs: messages name the repository by its URL without userinfo, and every
message from libgit2 or the remote is scrubbed of the secrets before it is raised or logged.

Every remote operation has a total deadline: libgit2's socket timeouts are set to what is left
of it, and every callback checks it.

Its rooms: ``git_remotes`` (the remote, its credentials and the callbacks of one operation),
``git_commits`` (authors, messages, history entries, push results), ``git_trees`` (trees built
in process); callers import every name from here.
"""

from __future__ import annotations

__all__ = [
    "CommitAuthor",
    "CommitChange",
    "CommitRequest",
    "FileVersion",
    "GitCredentials",
    "GitRemote",
    "GitRepository",
    "GroupOutcome",
    "PushResult",
    "Snapshot",
    "commit_message",
    "push_refspec",
]

import datetime
import logging
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import ObjectType, Option

from helmforge.adapters.git_commits import (
    CommitAuthor,
    CommitChange,
    FileVersion,
    PushResult,
    commit_message,
)
from helmforge.adapters.git_remotes import (
    MAX_REMOTE_TEXT,
    DeadlineExceededError,
    GitCredentials,
    GitRemote,
    RemoteCallbacks,
    push_ref,
    push_refspec,
    tracking_ref,
)
from helmforge.adapters.git_trees import tree_with
from helmforge.core.errors import (
    AuthenticationError,
    ConflictError,
    ExternalServiceError,
    HelmforgeError,
    Location,
)

_log = logging.getLogger(__name__)

# libgit2's timeouts and home directory are process-wide settings: operations that change them
# take turns. Remote operations of one repository are serialized by the service anyway.
_GLOBAL_OPTIONS = threading.Lock()
# (commit, paths) -> the newest commit on that commit's first-parent line that changed any of
# the paths (None: none did, the whole line was walked). A commit id names its whole history,
# so an entry holds for every repository and never goes stale; the oldest go past the bound.
_LAST_CHANGES: OrderedDict[tuple[str, tuple[str, ...]], str | None] = OrderedDict()
_LAST_CHANGES_MUTEX = threading.Lock()
_LAST_CHANGES_KEPT = 20_000
_NON_FAST_FORWARD = re.compile(
    r"non-fast-?forward|fetch first|stale info|cannot lock ref|not present locally|"
    r"failed to update ref|incorrect old value",
    re.IGNORECASE,
)


class _Confirmation:
    """A group's attempt on the cache's head (no fetch): the head, and the snapshots its
    edits were handed, marked ``confirmed`` once the remote advertises its branch there."""

    def __init__(self, head: str, snapshots: Sequence[Snapshot]) -> None:
        self.head = pygit2.Oid(hex=head)
        self._snapshots = tuple(snapshots)

    def confirmed(self) -> None:
        for snapshot in self._snapshots:
            snapshot.confirmed = True


class Snapshot:
    """The files of one commit (``commit`` None: the branch does not exist yet) as an edit
    reads them: ``snapshot(path)`` is the file's bytes or None. It remembers which paths were
    read (``paths_read``), so a group can tell whether an edit's answer depended on the
    commits of the edits before it. ``repository`` reads other revisions (the one an editor
    saw). ``confirmed`` is False while the head is only the cache's, taken without a fetch
    (``commit_group(trust_cache=True)``); it turns True once the remote showed its branch
    there (the push negotiation), as for a fetched head. An edit asked again after a head
    that never was confirmed should check itself as on a first call: the remote was
    elsewhere all along, so that call was no race lost after a check."""

    __slots__ = ("_seen", "commit", "confirmed", "repository")

    def __init__(
        self, repository: GitRepository, commit: str | None, *, confirmed: bool = True
    ) -> None:
        self.repository = repository
        self.commit = commit
        self.confirmed = confirmed
        self._seen: set[str] = set()

    def __call__(self, path: str) -> bytes | None:
        self._seen.add(path)
        return None if self.commit is None else self.repository.read_file(path, self.commit)

    @property
    def paths_read(self) -> frozenset[str]:
        return frozenset(self._seen)


type FileChanges = Mapping[str, bytes | None]
type ChangeBuilder = Callable[[Snapshot], FileChanges]


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """One edit of a group: ``changes(snapshot)`` returns ``{path: new bytes, or None to
    delete}`` for the head it is handed (called again on a new head after a lost race, so it
    re-applies the edit, never replays old bytes; it may raise ``HelmforgeError`` to refuse,
    which answers this edit alone); ``message`` may be a function called after ``changes``
    when a commit is made, for a message naming what the edit changed there."""

    changes: ChangeBuilder
    author: CommitAuthor
    message: str | Callable[[], str]
    committer: CommitAuthor | None = None


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """The answers of a group's requests, in order, and whether the cache was fetched."""

    answers: list[PushResult | Exception]
    fetched: bool


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One edit's answer in an attempt; ``pushed`` when it holds only if the push lands (its
    commit is in it, or what the edit read was changed by an earlier edit of the group)."""

    answer: PushResult | Exception
    pushed: bool


class GitRepository:
    """One remote branch and its bare cache repository at ``cache_dir``."""

    def __init__(
        self,
        remote: GitRemote,
        cache_dir: Path,
        *,
        max_attempts: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remote = remote
        self.cache_dir = cache_dir
        self.max_attempts = max_attempts
        self._clock = clock
        if (cache_dir / "HEAD").exists():
            self._repo = pygit2.Repository(str(cache_dir))
        else:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._repo = pygit2.init_repository(str(cache_dir), bare=True)

    # --- reading the cache -------------------------------------------------------------

    def head(self) -> str | None:
        """The branch head as last fetched (or pushed), or None when the branch is new."""
        ref = self._repo.references.get(tracking_ref(self.remote.branch))
        return None if ref is None else str(ref.target)

    def _read_at(self, commit: str | None, path: str) -> bytes | None:
        return None if commit is None else self.read_file(path, commit)

    def read_file(self, path: str, commit: str | None = None) -> bytes | None:
        """A file's bytes at ``commit`` (default: the head), or None when it is not there."""
        commit = commit or self.head()
        if commit is None:
            return None
        tree = self._repo[commit].peel(pygit2.Tree)
        try:
            entry = tree[path]
        except KeyError:
            return None
        if entry.type != ObjectType.BLOB:
            return None
        return bytes(self._repo[entry.id].peel(pygit2.Blob).data)

    def contains(self, revision: str) -> bool:
        """Whether ``revision`` (a full commit id) is a commit in the cache."""
        if len(revision) != 40 or any(c not in "0123456789abcdef" for c in revision):
            return False
        found = self._repo.get(revision)
        return found is not None and found.type == ObjectType.COMMIT

    def is_ancestor(self, revision: str, of: str) -> bool:
        """Whether commit ``revision`` is ``of`` or one of its ancestors (both in the cache)."""
        if revision == of:
            return True
        return bool(self._repo.descendant_of(pygit2.Oid(hex=of), pygit2.Oid(hex=revision)))

    def _entry_id(self, commit: pygit2.Commit, path: str) -> pygit2.Oid | None:
        try:
            return commit.tree[path].id
        except KeyError:
            return None

    def _first_parent(self, commit: pygit2.Commit) -> pygit2.Commit | None:
        return self._repo[commit.parent_ids[0]].peel(pygit2.Commit) if commit.parent_ids else None

    def _changed(
        self, commit: pygit2.Commit, parent: pygit2.Commit | None, paths: Sequence[str]
    ) -> list[str]:
        """The ``paths`` whose entry differs between ``commit`` and ``parent`` (none: added)."""
        return [
            path
            for path in paths
            if self._entry_id(commit, path)
            != (None if parent is None else self._entry_id(parent, path))
        ]

    def last_change(
        self, paths: Sequence[str], *, at: str | None = None, max_commits: int = 10_000
    ) -> str | None:
        """The newest commit on the first-parent line of ``at`` (default: the head) that
        changed any of ``paths``, or None when none did within ``max_commits``. Answers are
        remembered per process for every commit walked (they share the answer), so asking
        again a few commits later walks only the commits since."""
        head = at or self.head()
        if head is None:
            return None
        wanted = tuple(sorted(set(paths)))
        walked: list[str] = []
        answer: str | None = None
        complete = True  # the answer holds (found, remembered, or the whole line walked)
        # Parent by parent (a topological walker would sort the whole history first).
        commit: pygit2.Commit | None = self._repo[pygit2.Oid(hex=head)].peel(pygit2.Commit)
        while commit is not None:
            revision = str(commit.id)
            with _LAST_CHANGES_MUTEX:
                if (revision, wanted) in _LAST_CHANGES:
                    answer = _LAST_CHANGES[(revision, wanted)]
                    break
            if len(walked) >= max_commits:
                complete = False
                break
            walked.append(revision)
            parent = self._first_parent(commit)
            if self._changed(commit, parent, wanted):
                answer = revision
                break
            commit = parent
        if complete:
            with _LAST_CHANGES_MUTEX:
                for revision in walked:
                    _LAST_CHANGES[(revision, wanted)] = answer
                while len(_LAST_CHANGES) > _LAST_CHANGES_KEPT:
                    _LAST_CHANGES.popitem(last=False)
        return answer

    def changes(
        self,
        paths: Sequence[str],
        *,
        limit: int = 50,
        max_commits: int = 10_000,
        at: str | None = None,
    ) -> list[CommitChange]:
        """The commits on the first-parent line of ``at`` (default: the head) that changed any
        of ``paths`` (files), newest first, each with those files before and after; at most
        ``limit`` of them, looking at most ``max_commits`` deep (a bounded walk comparing tree
        entries only)."""
        head = at or self.head()
        found: list[CommitChange] = []
        if head is None:
            return found
        # First parents only: one chain, yielded as walked (a topological sort would go
        # through the whole history before the first commit, at every page of it).
        walker = self._repo.walk(pygit2.Oid(hex=head), pygit2.enums.SortMode.NONE)
        walker.simplify_first_parent()
        for seen, commit in enumerate(walker):
            if len(found) >= limit or seen >= max_commits:
                break
            parent = self._first_parent(commit)
            changed = self._changed(commit, parent, paths)
            if not changed:
                continue
            found.append(
                CommitChange(
                    revision=str(commit.id),
                    author=CommitAuthor(commit.author.name, commit.author.email),
                    at=datetime.datetime.fromtimestamp(commit.author.time, datetime.UTC),
                    message=commit.message,
                    files={
                        path: (
                            None if parent is None else self.read_file(path, str(parent.id)),
                            self.read_file(path, str(commit.id)),
                        )
                        for path in changed
                    },
                )
            )
        return found

    def history(
        self, path: str, *, limit: int = 50, max_commits: int = 10_000
    ) -> list[FileVersion]:
        """The commits on the head's first-parent line that changed ``path``, newest first, at
        most ``limit`` of them and looking at most ``max_commits`` deep (a bounded walk)."""
        return [
            FileVersion(
                revision=change.revision,
                author=change.author,
                at=change.at,
                message=change.message,
                before=change.files[path][0],
                after=change.files[path][1],
            )
            for change in self.changes([path], limit=limit, max_commits=max_commits)
        ]

    # --- remote operations ---------------------------------------------------------------

    def fetch(self) -> str | None:
        """Fetch the branch into the cache; its head, or None when the remote has no branch."""
        branch = self.remote.branch
        # The '+' is on the *fetch* into our private mirror of the remote branch: the mirror
        # follows the remote as it is. Pushes never carry one.
        spec = f"+refs/heads/{branch}:{tracking_ref(branch)}"
        self._remote_operation(
            "fetch",
            lambda remote, callbacks: remote.fetch(
                [spec], callbacks=callbacks, prune=pygit2.enums.FetchPrune.PRUNE
            ),
        )
        return self.head()

    def commit_and_push(
        self,
        changes: ChangeBuilder,
        *,
        author: CommitAuthor,
        message: str | Callable[[], str],
        committer: CommitAuthor | None = None,
    ) -> PushResult:
        """Commit the files ``changes`` returns for the current head and push the branch: a
        group of one (``commit_group``), whose error is raised. Raises ``ConflictError``
        after ``max_attempts`` lost races, ``ExternalServiceError`` when the remote refuses the
        push (a hook), fails or the deadline passes, or whatever ``changes`` raised; nothing is
        left behind in the cache but unreferenced objects."""
        (answer,) = self.commit_group([CommitRequest(changes, author, message, committer)]).answers
        if isinstance(answer, Exception):
            raise answer
        return answer

    def commit_group(
        self, requests: Sequence[CommitRequest], *, trust_cache: bool = False
    ) -> GroupOutcome:
        """Commit each request on the head the requests before it left (one commit each, in
        order, each with its own author and message) and push the last commit once.

        Returns one answer per request, in order (``answers``): a ``PushResult``
        (``created`` False when the edit changed nothing there; ``commit`` is then the head
        it saw), or the exception that request's ``changes`` raised (the others are
        committed without it), or the group's error for every request whose answer needed
        the push: ``ConflictError``
        after ``max_attempts`` lost races, ``ExternalServiceError`` when the remote refused
        the push (a hook), failed or the deadline passed. Nothing is pushed but the whole
        group; a refused group leaves only unreferenced objects in the cache. ``fetched``
        says whether the cache is known to be as new as the remote was when the group began
        (it was fetched, or a push on its head landed), whatever the answers.

        With ``trust_cache`` the first attempt skips the fetch: it builds on the cache's head
        (which this process's, or another's sharing the cache, last push or fetch left) and
        pushes only if the remote's branch is exactly that head (the push negotiation checks
        what the remote advertises). When the remote moved, or the group made no commit (so
        no push could confirm the head), the group is built again on a fetched head, every
        request asked anew (``Snapshot.fetched`` tells a request which kind of head it is
        handed, ``confirmed``); that attempt is not counted among ``max_attempts``. A push
        the remote refuses after it showed its branch on the cache's head (a race at the
        server, a hook) is answered as after a fetch.
        """
        outcomes: list[_Outcome] = []
        fetched = False
        speculative = trust_cache and self.head() is not None
        attempt = 0
        while attempt < self.max_attempts:
            if speculative:
                parent = self.head()
            else:
                attempt += 1
                try:
                    parent = self.fetch()
                except HelmforgeError as error:
                    return GroupOutcome([error for _ in requests], fetched=fetched)
                fetched = True
            tip = parent
            outcomes = []
            snapshots: list[Snapshot] = []
            for request in requests:
                snapshot = Snapshot(self, tip, confirmed=not speculative)
                snapshots.append(snapshot)
                answer: PushResult | Exception
                try:
                    answer = self._commit_one(request, snapshot, max(1, attempt))
                except Exception as error:  # this edit's answer alone; the group goes on
                    answer = error
                if isinstance(answer, PushResult) and answer.created:
                    tip = answer.commit
                    outcomes.append(_Outcome(answer, pushed=True))
                else:
                    outcomes.append(_Outcome(answer, self._depends(snapshot, parent)))
            if tip == parent:
                if speculative:  # nothing to push would confirm the head: ask the remote
                    speculative = False
                    continue
                return GroupOutcome([outcome.answer for outcome in outcomes], fetched=True)
            assert tip is not None
            confirm = _Confirmation(parent, snapshots) if speculative and parent else None
            try:
                pushed = self._push(pygit2.Oid(hex=tip), max(1, attempt), confirm=confirm)
            except HelmforgeError as error:
                return GroupOutcome(
                    [error if outcome.pushed else outcome.answer for outcome in outcomes],
                    fetched=fetched,
                )
            if pushed:
                made = [o.answer for o in outcomes if isinstance(o.answer, PushResult)]
                self._repo.references.create(
                    tracking_ref(self.remote.branch), pygit2.Oid(hex=tip), force=True
                )
                _log.info(
                    "pushed %s to %s %s: %d commit(s) of %d edit(s) (attempt %d%s)",
                    tip,
                    self.remote.url,
                    self.remote.branch,
                    sum(1 for answer in made if answer.created),
                    len(requests),
                    max(1, attempt),
                    ", on the cached head" if speculative else "",
                )
                return GroupOutcome([outcome.answer for outcome in outcomes], fetched=True)
            speculative = False
        gave_up = ConflictError(
            f"branch {self.remote.branch} kept moving; gave up after "
            f"{self.max_attempts} attempts, nothing was pushed",
            location=Location(self.remote.url),
        )
        return GroupOutcome(
            [gave_up if outcome.pushed else outcome.answer for outcome in outcomes], fetched=True
        )

    def _commit_one(self, request: CommitRequest, snapshot: Snapshot, attempt: int) -> PushResult:
        parent = snapshot.commit
        files = dict(request.changes(snapshot))
        tree = tree_with(self._repo, parent, files, where=self.remote.url)
        if parent is not None and tree == self._repo[parent].peel(pygit2.Tree).id:
            return PushResult(commit=parent, parent=parent, created=False, attempts=attempt)
        message = request.message() if callable(request.message) else request.message
        commit = self._repo.create_commit(
            None,
            request.author.signature(),
            (request.committer or request.author).signature(),
            message,
            tree,
            [] if parent is None else [pygit2.Oid(hex=parent)],
        )
        return PushResult(commit=str(commit), parent=parent, created=True, attempts=attempt)

    def _depends(self, snapshot: Snapshot, parent: str | None) -> bool:
        """Whether an edit read files that earlier edits of the group changed: its answer
        then holds only if their commits are pushed."""
        if snapshot.commit == parent:
            return False
        return any(
            self._read_at(snapshot.commit, path) != self._read_at(parent, path)
            for path in snapshot.paths_read
        )

    def _push(
        self, commit: pygit2.Oid, attempt: int, *, confirm: _Confirmation | None = None
    ) -> bool:
        """True when pushed; False when the remote moved (retry), or, with ``confirm``,
        when the remote's branch is not exactly its head; raises otherwise."""
        branch = self.remote.branch
        self._repo.references.create(push_ref(branch), commit, force=True)
        callbacks_seen: list[RemoteCallbacks] = []

        def push(remote: pygit2.Remote, callbacks: RemoteCallbacks) -> None:
            callbacks.confirm = confirm
            callbacks_seen.append(callbacks)
            remote.push([push_refspec(branch)], callbacks=callbacks)

        try:
            self._remote_operation("push", push)
        except ConflictError:
            _log.info(
                "push to %s %s lost a race (attempt %d): fetching the new head",
                self.remote.url,
                branch,
                attempt,
            )
            return False
        finally:
            self._repo.references.delete(push_ref(branch))
        callbacks = callbacks_seen[-1]
        target = f"refs/heads/{branch}"
        reason = callbacks.rejected.get(target)
        if reason is not None:
            if _NON_FAST_FORWARD.search(reason):
                _log.info(
                    "push to %s %s rejected as %r (attempt %d): fetching the new head",
                    self.remote.url,
                    branch,
                    self._scrub(reason),
                    attempt,
                )
                return False
            said = self._scrub("".join(callbacks.remote_text).strip())
            raise ExternalServiceError(
                f"the remote refused the push to {branch}: {self._scrub(reason)}"
                + (f" (the remote said: {said[:MAX_REMOTE_TEXT]})" if said else "")
                + "; nothing was changed",
                location=Location(self.remote.url),
            )
        if target not in callbacks.accepted:
            raise ExternalServiceError(
                f"the remote did not report the update of {branch}; nothing is known to be pushed",
                location=Location(self.remote.url),
            )
        return True

    def _remote_operation(
        self, what: str, run: Callable[[pygit2.Remote, RemoteCallbacks], object]
    ) -> None:
        deadline = self._clock() + self.remote.deadline_seconds
        callbacks = RemoteCallbacks(self.remote, self._repo, deadline, self._clock)
        remote = self._repo.remotes.create_anonymous(self.remote.url)
        milliseconds = max(1, int(self.remote.deadline_seconds * 1000))
        with _GLOBAL_OPTIONS, tempfile.TemporaryDirectory(prefix="helmforge-ssh-") as home:
            known_hosts = self.remote.credentials.ssh_known_hosts or ""
            (Path(home) / ".ssh").mkdir()
            (Path(home) / ".ssh" / "known_hosts").write_text(known_hosts, encoding="utf-8")
            previous_home = pygit2.option(Option.GET_HOMEDIR)
            pygit2.option(Option.SET_HOMEDIR, home)
            pygit2.option(Option.SET_SERVER_CONNECT_TIMEOUT, milliseconds)
            pygit2.option(Option.SET_SERVER_TIMEOUT, milliseconds)
            try:
                run(remote, callbacks)
            except DeadlineExceededError:
                raise self._deadline_error(what) from None
            except (HelmforgeError, pygit2.GitError, OSError, ValueError) as error:
                raise self._wrap(what, error, callbacks) from None
            finally:
                pygit2.option(Option.SET_HOMEDIR, previous_home or "")
        if self._clock() >= deadline:
            raise self._deadline_error(what)

    # --- errors --------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self.remote.credentials.secrets():
            text = text.replace(secret, "***")
        return text

    def _deadline_error(self, what: str) -> ExternalServiceError:
        return ExternalServiceError(
            f"{what} did not finish within its deadline of "
            f"{self.remote.deadline_seconds:g} s; nothing was changed in helmforge",
            location=Location(self.remote.url),
        )

    def _wrap(self, what: str, error: Exception, callbacks: RemoteCallbacks) -> HelmforgeError:
        where = Location(self.remote.url)
        text = self._scrub(str(error))
        if isinstance(error, ConflictError) or _NON_FAST_FORWARD.search(text):
            return ConflictError(text, location=where)
        if callbacks.authentication_failed or "authentication" in text.lower() or ("401" in text):
            return AuthenticationError(
                f"the remote refused the credentials for {what} (check the username, "
                "password or token, or the deploy key)",
                location=where,
            )
        if callbacks.host_key_refused:
            return ExternalServiceError(
                "the server's host key does not match the pinned "
                "known_hosts (or its TLS certificate did not verify); not connecting",
                location=where,
            )
        if "timed out" in text.lower() or self._clock() >= callbacks._deadline:
            return self._deadline_error(what)
        if isinstance(error, HelmforgeError):
            return error
        return ExternalServiceError(f"{what} failed: {text}", location=where)
