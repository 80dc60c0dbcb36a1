"""Hostile inputs through the real server (SQLite and PostgreSQL): non-finite numbers, huge
integers, lone surrogates and deep nesting are refused with 4xx on every route that reads them,
never a 500, and nothing is stored.

Each test is named after the defect it reproduces (found by trying the product from outside).
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, example_text

JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}
CONTEXT_JSON = (
    '{"product": "ledger", "customer": "acme", "environment": "prod", "instance": "a1", '
    '"version": "3.4.0"}'
)


def _build(values: str) -> str:
    """A build body (as JSON text) with the values ``values`` (JSON text)."""
    return (
        '{"template": "web-service@1.2.0", "context": '
        + CONTEXT_JSON
        + ', "values": '
        + values
        + "}"
    )


VALUE_ROUTES = ["/api/v1/charts", "/api/v1/charts/preview", "/api/v1/charts/effective-values"]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1.5e+99999", "-1e400"]


def _builds(api: Api) -> int:
    return len(api.client.get("/api/v1/charts").json())


@pytest.mark.parametrize("route", VALUE_ROUTES)
def test_non_finite_numbers_in_values_are_refused_not_stored(api: Api, route: str) -> None:
    before = _builds(api)
    for number in NON_FINITE:
        body = _build('{"replicaCount": ' + number + "}")
        response = api.client.post(route, content=body, headers=JSON)
        assert response.status_code == 422, response.text
        message = response.json()["message"]
        assert "finite" in message
        assert "line 1 column" in message
    assert _builds(api) == before


def test_a_5000_digit_integer_in_values_is_refused(api: Api) -> None:
    body = _build('{"replicaCount": ' + ("9" * 5000) + "}")
    for route in VALUE_ROUTES:
        response = api.client.post(route, content=body, headers=JSON)
        assert response.status_code == 422, (route, response.text)
        assert "5000 digits" in response.json()["message"]


@pytest.mark.parametrize(
    "value", ["!!float nan", "!!float .inf", "!!float -inf", "1.5e+99999", "!!int 0x" + "f" * 200]
)
def test_non_finite_defaults_in_template_yaml_are_refused_with_the_line(
    api: Api, value: str
) -> None:
    text = example_text(name="nan-defaults", version="1.0.0").replace(
        "default: 2", f"default: {value}", 1
    )
    assert f"default: {value}" in text
    line = next(n for n, row in enumerate(text.splitlines(), 1) if f"default: {value}" in row)
    created = api.client.post("/api/v1/templates", content=text, headers=YAML)
    assert created.status_code == 422, created.text
    assert f"line {line}" in created.text or f":{line}" in created.json()["message"]
    validated = api.client.post("/api/v1/templates/validate", content=text, headers=YAML)
    assert validated.status_code in (200, 422), validated.text
    assert "finite" in validated.text or "digits" in validated.text or "number" in validated.text
    assert validated.status_code == 422 or validated.json()["valid"] is False
    names = [t["name"] for t in api.client.get("/api/v1/templates").json()]
    assert "nan-defaults" not in names


def test_a_5000_digit_integer_in_template_yaml_answers_422_not_500(api: Api) -> None:
    text = example_text(name="big-int", version="1.0.0").replace(
        "default: 2", "default: " + "1" * 5000, 1
    )
    for route in ("/api/v1/templates", "/api/v1/templates/validate"):
        response = api.client.post(route, content=text, headers=YAML)
        assert response.status_code in (200, 422), (route, response.text)
        assert "5000 digits" in response.text
        assert response.status_code == 422 or response.json()["valid"] is False


LONE = '"bad \\ud800 text"'


def _draft(api: Api) -> tuple[str, int]:
    text = example_text(name="surrogate-draft", version="1.0.0")
    created = api.client.post("/api/v1/templates", content=text, headers=YAML)
    assert created.status_code == 201, created.text
    return "/api/v1/templates/surrogate-draft/versions/1.0.0", int(created.json()["revision"])


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/api/v1/charts", _build('{"image": {"tag": ' + LONE + "}}")),
        ("/api/v1/charts/effective-values", _build("{" + LONE + ": 1}")),
        ("/api/v1/tokens", '{"label": ' + LONE + "}"),
        ("/api/v1/registries", '{"name": "r", "url": ' + LONE + "}"),
        ("/api/v1/account/password", '{"current_password": ' + LONE + ', "new_password": "x"}'),
        ("/api/v1/users", '{"name": "eve", "role": "viewer", "password": ' + LONE + "}"),
    ],
)
def test_a_lone_surrogate_in_a_json_body_answers_422_naming_where(
    api: Api, route: str, body: str
) -> None:
    response = api.client.post(route, content=body, headers=JSON)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert "lone UTF-16 surrogate \\ud800" in message
    assert "the request body" in message


def test_a_lone_surrogate_in_a_draft_put_answers_422_and_keeps_the_draft(api: Api) -> None:
    path, revision = _draft(api)
    body = '{"content": "name: x\\n# \\udc00", "revision": ' + str(revision) + "}"
    response = api.client.put(path, content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert "\\udc00" in response.json()["message"]
    assert "content" in response.json()["message"]
    assert api.client.get(path).json()["revision"] == revision


def test_a_surrogate_in_a_body_of_another_content_type_does_not_crash_the_error_handler(
    api: Api,
) -> None:
    # FastAPI does not parse this body as JSON; its validation error used to echo the bytes,
    # and encoding them in the error handler raised.
    for body in (b'"\xed\xa0\x80"', b"\xff\xfe", b'{"label": "\\ud800"}'):
        response = api.client.post(
            "/api/v1/tokens", content=body, headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "InputError"
    registry = api.client.post(
        "/api/v1/registries", content=b'{"name": "\xed\xa0\x80"}', headers={"Content-Type": "x/y"}
    )
    assert registry.status_code == 422, registry.text
    assert "not UTF-8" in registry.json()["message"]


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.mark.parametrize("route", ["/api/v1/charts", "/api/v1/charts/effective-values"])
def test_json_nested_hundreds_deep_answers_413_not_a_recursion_error(api: Api, route: str) -> None:
    for depth in (201, 500, 1000, 5000, 100_000):
        body = _build('{"extra": ' + _nested(depth) + "}")
        response = api.client.post(route, content=body, headers=JSON)
        assert response.status_code == 413, response.text
        assert "at most 200" in response.json()["message"]


def test_json_nested_within_the_bound_still_merges(api: Api) -> None:
    # 200 levels in all: the body's own two, "values", "extra" and 196 more.
    body = _build('{"extra": ' + _nested(196) + "}")
    response = api.client.post("/api/v1/charts/effective-values", content=body, headers=JSON)
    assert response.status_code in (200, 422), response.text
    assert response.status_code != 413


def test_post_users_validation_error_does_not_echo_the_new_password(api: Api) -> None:
    secret = "correct horse battery staple"
    response = api.client.post(
        "/api/v1/users", json={"name": "eve", "role": "viewer", "password": secret, "x": 1}
    )
    assert response.status_code == 422, response.text
    assert secret not in response.text
    assert response.json()["error"] == "InputError"
    assert "body.x" in response.json()["message"]
    wrong_type = api.client.post(
        "/api/v1/users", json={"name": ["eve"], "role": "viewer", "password": [secret]}
    )
    assert wrong_type.status_code == 422
    assert secret not in wrong_type.text
    assert {p["path"] for p in wrong_type.json()["problems"]} >= {"body.password", "body.name"}


def test_valid_unicode_and_escaped_pairs_still_pass(api: Api) -> None:
    body = '{"label": "ci \\ud83d\\ude80 \\\\ud800 ünïcode"}'
    response = api.client.post("/api/v1/tokens", content=body, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["label"] == "ci \U0001f680 \\ud800 ünïcode"
