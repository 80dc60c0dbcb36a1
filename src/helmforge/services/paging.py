"""One way to page and filter every list the pages show (builds, templates, audit, users).

A ``PageRequest`` says which page (1-based), how many a page, and the search text; a ``Page``
is what comes back: the items, where they sit, and how many matched in all, so the page can
say "page 2 of 5" and offer the way on. The search is a case-insensitive substring match on
the columns each list names (``like`` wildcards in the text are matched literally).
"""

from __future__ import annotations

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_QUERY_LENGTH", "Page", "PageRequest", "contains", "fetch_page"]

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Page ``number`` (from 1) of ``size`` items matching ``query`` (empty: everything)."""

    number: int = 1
    size: int = DEFAULT_PAGE_SIZE
    query: str = ""

    def __post_init__(self) -> None:
        # Out-of-range requests are clamped rather than refused: a stale link still shows a page.
        object.__setattr__(self, "number", max(1, self.number))
        object.__setattr__(self, "size", max(1, min(self.size, MAX_PAGE_SIZE)))
        object.__setattr__(self, "query", self.query.strip()[:MAX_QUERY_LENGTH])


@dataclass(frozen=True, slots=True)
class Page[T]:
    """Items of one page, its number, the page size, the search and how many matched."""

    items: tuple[T, ...]
    number: int
    size: int
    total: int
    query: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_index(self) -> int:
        """The 1-based position of the first item shown (0 when nothing matched)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.number - 1) * self.size + len(self.items)


def contains(query: str, *columns: Any) -> sa.ColumnElement[bool]:
    """Any of ``columns`` contains ``query``, case-insensitively, wildcards taken literally."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped.lower()}%"
    return sa.or_(*(sa.func.lower(column).like(pattern, escape="\\") for column in columns))


def fetch_page[R, T](
    session: Session,
    statement: sa.Select[R],
    request: PageRequest,
    view: Callable[[R], T],
    *,
    keep: Callable[[R], bool] | None = None,
) -> Page[T]:
    """Run ``statement`` (ordered, already filtered) for ``request``'s page.

    ``keep`` is a filter SQL cannot apply (the access policy's verdict per row): the rows are
    then read in order and the page is cut from those kept, so counts and pages stay right.
    A page past the end gives the last page, so a link that outlived some deletions still shows
    something. Returns the page with the number of matching rows in all.
    """
    if keep is not None:
        return _page_of_kept(session, statement, request, view, keep)
    total = session.scalar(
        sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
    )
    count = int(total or 0)
    number = min(request.number, max(1, -(-count // request.size)))
    rows: Sequence[R] = session.scalars(
        statement.offset((number - 1) * request.size).limit(request.size)
    ).all()
    return Page(tuple(view(row) for row in rows), number, request.size, count, request.query)


def _page_of_kept[R, T](
    session: Session,
    statement: sa.Select[R],
    request: PageRequest,
    view: Callable[[R], T],
    keep: Callable[[R], bool],
) -> Page[T]:
    start = (request.number - 1) * request.size
    wanted: list[R] = []
    # The last page is kept as well, for a request past the end.
    last: deque[R] = deque(maxlen=request.size)
    count = 0
    for row in session.scalars(statement):
        if not keep(row):
            continue
        if start <= count < start + request.size:
            wanted.append(row)
        if count % request.size == 0:
            last.clear()
        last.append(row)
        count += 1
    pages = max(1, -(-count // request.size))
    number = min(request.number, pages)
    rows = wanted if number == request.number else list(last)
    return Page(tuple(view(row) for row in rows), number, request.size, count, request.query)
