"""The one way list pages read ``?page=`` and ``?q=`` and link to the pages around them.

Every list (builds, templates, audit log, users) reads its ``PageRequest`` here and hands the
service's ``Page`` to the ``paging.html`` macros, so the search box and the pager look and
behave the same everywhere.
"""

from __future__ import annotations

__all__ = ["PageLinks", "page_links", "page_request"]

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from helmforge.services.paging import DEFAULT_PAGE_SIZE, Page, PageRequest

_MAX_PAGE_DIGITS = 6


def page_request(request: Request, *, size: int = DEFAULT_PAGE_SIZE) -> PageRequest:
    """The page and search the visitor asked for; a page that is not a number gives page 1."""
    raw = request.query_params.get("page", "")
    number = int(raw) if raw.isdigit() and len(raw) <= _MAX_PAGE_DIGITS else 1
    return PageRequest(number=number, size=size, query=request.query_params.get("q", ""))


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What the pager shows: where this page sits, and the links before and after it."""

    page: Page[Any]
    previous_url: str
    next_url: str
    clear_url: str

    @property
    def summary(self) -> str:
        page = self.page
        if not page.total:
            return ""
        shown = (
            str(page.first_index)
            if page.first_index == page.last_index
            else f"{page.first_index}\u2013{page.last_index}"
        )
        return f"{shown} of {page.total} \u00b7 page {page.number} of {page.pages}"


def page_links(
    request: Request, page: Page[Any], *, keep: Mapping[str, str] | None = None
) -> PageLinks:
    """Links to the previous and next page of ``page``, keeping the search (and the filters
    in ``keep``, those not empty)."""

    def url(number: int) -> str:
        params = {name: value for name, value in (keep or {}).items() if value}
        if page.query:
            params["q"] = page.query
        if number > 1:
            params["page"] = str(number)
        return request.url.path + (f"?{urlencode(params)}" if params else "")

    return PageLinks(
        page=page,
        previous_url=url(page.number - 1) if page.has_previous else "",
        next_url=url(page.number + 1) if page.has_next else "",
        clear_url=request.url.path,
    )
