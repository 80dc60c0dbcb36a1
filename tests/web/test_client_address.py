"""Who the client is: the connection's peer, unless the peer is a configured proxy
(HELMFORGE_TRUSTED_PROXIES); an X-Forwarded-For from anyone else changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from helmforge.api.middlewares import ClientAddressMiddleware
from helmforge.core.errors import InputError
from helmforge.server.app import state_of
from helmforge.services.accounts import SOURCE_FAILURE_LIMIT
from helmforge.services.settings import load_settings
from tests.support.apps import make_app
from tests.support.servers import serve
from tests.web.conftest import sign_in


def test_x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_per_source_lockout(
    database_url: str, tmp_path: Path
) -> None:
    # The default: no proxy is trusted, not even one on loopback (uvicorn's own default).
    app, _ = make_app(database_url, tmp_path / "data", with_web=True, seed_examples=False)
    try:
        with serve(app) as url, httpx.Client(base_url=url) as client:
            for attempt in range(SOURCE_FAILURE_LIMIT):
                client.headers["X-Forwarded-For"] = f"198.51.100.{attempt + 1}"
                failed = sign_in(client, f"nobody{attempt}", "not the password!")
                assert failed.status_code == 401
                assert "too many" not in failed.text
            client.headers["X-Forwarded-For"] = "203.0.113.250"
            refused = sign_in(client, "someone-else", "not the password!")
        assert refused.status_code == 401
        assert "too many failed sign-ins" in refused.text
    finally:
        state_of(app).engine.dispose()


async def _scope_through(middleware_of: Any, scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(inner: dict[str, Any], _receive: Any, _send: Any) -> None:
        seen.update(inner)

    await middleware_of(app)(scope, None, None)
    return seen


def _http(peer: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "client": (peer, 4321), "scheme": "http", "headers": list(headers)}


@pytest.mark.anyio
async def test_only_a_trusted_proxy_is_believed_and_only_for_its_own_hop() -> None:
    def trusting(app: Any) -> ClientAddressMiddleware:
        return ClientAddressMiddleware(app, trusted_proxies=("10.0.0.0/8", "2001:db8::/32"))

    chain = (b"x-forwarded-for", b"203.0.113.9, 198.51.100.7, 10.1.1.1")
    https = (b"x-forwarded-proto", b"https")
    through_proxies = await _scope_through(trusting, _http("10.0.0.2", chain, https))
    # 10.1.1.1 is a trusted proxy too; 198.51.100.7 is the first address nobody trusted
    # vouches for beyond, so 203.0.113.9 (written by the client itself) is not believed.
    assert through_proxies["client"] == ("198.51.100.7", 0)
    assert through_proxies["scheme"] == "https"
    direct = await _scope_through(trusting, _http("198.51.100.20", chain, https))
    assert direct["client"] == ("198.51.100.20", 4321)
    assert direct["scheme"] == "http"
    garbage = (b"x-forwarded-for", b"not-an-address, 10.9.9.9")
    assert (await _scope_through(trusting, _http("10.0.0.2", garbage)))["client"] == (
        "10.9.9.9",
        0,
    )
    v6 = (b"x-forwarded-for", b"2001:db8::1:2")
    assert (await _scope_through(trusting, _http("2001:db8::5", v6)))["client"][
        0
    ] == "2001:db8::1:2"
    nobody_trusted = await _scope_through(
        lambda app: ClientAddressMiddleware(app, trusted_proxies=()), _http("127.0.0.1", chain)
    )
    assert nobody_trusted["client"] == ("127.0.0.1", 4321)


def test_trusted_proxies_setting_reads_cidrs_and_refuses_anything_else(tmp_path: Path) -> None:
    base = {"HELMFORGE_DATA_DIR": str(tmp_path)}
    assert load_settings(base).trusted_proxies == ()
    settings = load_settings({**base, "HELMFORGE_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.7/32")
    with pytest.raises(InputError, match=r"HELMFORGE_TRUSTED_PROXIES: 'proxy\.local' is not"):
        load_settings({**base, "HELMFORGE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})
