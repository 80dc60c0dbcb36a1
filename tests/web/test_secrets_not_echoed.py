"""The registries page refuses a URL holding a password and shows the form again without it."""

from __future__ import annotations

from tests.web.conftest import WebClient

SECRET = "hunter2-Pw-DO-NOT-LEAK"


def test_the_registries_page_refuses_a_password_in_the_url_and_does_not_show_it(
    web: WebClient,
) -> None:
    page = web.client.post(
        "/registries",
        data={
            "csrf_token": web.csrf("/registries"),
            "name": "lab",
            "url": f"oci://robot:{SECRET}@registry.example.com/charts",
        },
    )
    assert page.status_code == 422, page.text
    assert SECRET not in page.text
    assert "holds credentials before the host (expected" in page.text
    assert "oci://***@registry.example.com/charts" in page.text
    assert 'value="lab"' in page.text  # the rest of the form is kept
