from __future__ import annotations

import re

import pytest

from helmforge.core.templates.placeholders import (
    ContextRef,
    PlaceholderError,
    ReleaseRef,
    ValuesRef,
    parse_placeholders,
    substitute_context,
)


def test_plain_text_is_one_literal() -> None:
    assert parse_placeholders("hello") == ("hello",)
    assert parse_placeholders("") == ()


def test_splits_literals_and_references() -> None:
    assert parse_placeholders("${values.image.repository}:${values.image.tag}") == (
        ValuesRef(("image", "repository")),
        ":",
        ValuesRef(("image", "tag")),
    )
    assert parse_placeholders("registry/${ctx.product}") == ("registry/", ContextRef("product"))


def test_other_dollar_braces_stay_literal() -> None:
    assert parse_placeholders("echo ${HOME} $PATH") == ("echo ${HOME} $PATH",)


def test_double_dollar_escapes_a_placeholder() -> None:
    assert parse_placeholders("$${values.x} and ${ctx.name}") == (
        "${values.x} and ",
        ContextRef("name"),
    )


@pytest.mark.parametrize(
    "text",
    [
        "${values.}",
        "${values.a..b}",
        "${values.1a}",
        "${ctx.}",
        "${ctx.a.b}",
        "${values.a",
        "${release.name}",
        "${release.namespace",
    ],
)
def test_malformed_placeholders_are_errors(text: str) -> None:
    with pytest.raises(PlaceholderError, match=re.escape(repr(text))):
        parse_placeholders(text)


def test_substitute_context_merges_literals() -> None:
    segments = parse_placeholders("${ctx.product}-${ctx.customer}:${values.tag}")
    assert substitute_context(segments, {"product": "ledger", "customer": "acme"}) == (
        "ledger-acme:",
        ValuesRef(("tag",)),
    )


def test_substituted_text_is_not_parsed_again() -> None:
    segments = parse_placeholders("${ctx.product}")
    assert substitute_context(segments, {"product": "${values.x}"}) == ("${values.x}",)


def test_release_namespace_is_a_reference_context_substitution_leaves_for_helm() -> None:
    segments = parse_placeholders("${ctx.name}.${release.namespace}.svc")
    assert segments == (ContextRef("name"), ".", ReleaseRef("namespace"), ".svc")
    assert ReleaseRef("namespace").expression == ".Release.Namespace"
    assert substitute_context(segments, {"name": "web"}) == (
        "web.",
        ReleaseRef("namespace"),
        ".svc",
    )
    assert substitute_context(segments, {"name": "web"}, release_namespace="team-a") == (
        "web.team-a.svc",
    )
