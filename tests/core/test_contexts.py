from __future__ import annotations

import pytest

from helmforge.core.contexts import contexts_from_document, parse_context
from helmforge.core.errors import InputError

GOOD = {
    "product": "ledger",
    "customer": "acme",
    "environment": "prod",
    "instance": "a1",
    "version": "3.4.0",
}


def test_chart_name_joins_the_four_labels() -> None:
    assert parse_context(GOOD).chart_name == "ledger-acme-prod-a1"


@pytest.mark.parametrize("bad", ["..", "a/b", "Foo_Bar", "-a", "a-"])
def test_bad_labels_are_rejected(bad: str) -> None:
    with pytest.raises(InputError, match="DNS-1123"):
        parse_context({**GOOD, "customer": bad})


@pytest.mark.parametrize("key", ["customer", "version"])
def test_an_empty_label_is_required_not_a_bad_label(key: str) -> None:
    with pytest.raises(InputError, match=rf"{key} is required") as raised:
        parse_context({**GOOD, key: ""})
    assert "DNS-1123" not in str(raised.value)
    assert "''" not in str(raised.value)


def test_chart_name_over_53_characters_names_the_computed_name() -> None:
    context = {**GOOD, "customer": "c" * 40}
    with pytest.raises(InputError, match=r"ledger-c+-prod-a1.* has 55 characters"):
        parse_context(context)


def test_unknown_and_missing_keys_are_all_reported() -> None:
    with pytest.raises(InputError) as caught:
        parse_context({"product": "p", "colour": "red"})
    message = str(caught.value)
    assert "colour" in message
    assert "customer is required" in message


def test_matrix_and_list_expand_in_order() -> None:
    document = {
        "matrix": {
            "product": ["ledger"],
            "customer": ["acme", "globex"],
            "environment": ["dev", "prod"],
            "instance": ["a1"],
            "version": ["3.4.0"],
        },
        "contexts": [{**GOOD, "customer": "initech", "environment": "uat", "instance": "01"}],
    }
    names = [c.chart_name for c in contexts_from_document(document)]
    assert names == [
        "ledger-acme-dev-a1",
        "ledger-acme-prod-a1",
        "ledger-globex-dev-a1",
        "ledger-globex-prod-a1",
        "ledger-initech-uat-01",
    ]


def test_duplicate_chart_names_in_a_fleet_are_rejected() -> None:
    with pytest.raises(InputError, match="appears twice"):
        contexts_from_document({"contexts": [GOOD, GOOD]})
