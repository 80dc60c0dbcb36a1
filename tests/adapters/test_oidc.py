"""The OpenID Connect relying party against the strict provider on loopback, with an injected
clock: key caching, the refetch cool-down, and the checks of the ID token."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey

from helmforge.adapters.oidc import OidcClient, OidcError
from tests.support.oidc import CLIENT_ID, CLIENT_SECRET, StrictProvider, strict_provider

REDIRECT = "http://127.0.0.1:1/sso/callback"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> Iterator[StrictProvider]:
    with strict_provider() as started:
        yield started


def _client(provider: StrictProvider, clock: Clock) -> OidcClient:
    return OidcClient(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        cache_ttl=3600,
        refetch_cooldown=60,
        clock=clock,
    )


def _sign_in(client: OidcClient) -> dict[str, object]:
    """The whole code flow through ``client``: the validated claims."""
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    url = client.authorization_url(
        redirect_uri=REDIRECT, state="s", nonce=nonce, code_verifier=verifier
    )
    callback = httpx.get(url).headers["location"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    token = client.exchange_code(code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    return client.validate_id_token(token, nonce=nonce)


def test_keys_are_cached_for_their_ttl(provider: StrictProvider) -> None:
    clock = Clock()
    client = _client(provider, clock)
    assert _sign_in(client)["sub"] == provider.subject
    assert _sign_in(client)["sub"] == provider.subject
    assert provider.jwks_requests == 1
    clock.now += 3601  # past the TTL: fetched again
    _sign_in(client)
    assert provider.jwks_requests == 2


def test_unknown_key_id_refetches_once_per_cool_down(provider: StrictProvider) -> None:
    clock = Clock()
    client = _client(provider, clock)
    _sign_in(client)
    provider.key = RSAKey.generate_key(2048, {"kid": "key-2"})  # the provider rotates
    # Within the cool-down the unknown key id is refused without asking the provider...
    with pytest.raises(OidcError, match="signed with key 'key-2', which the provider does not"):
        _sign_in(client)
    assert provider.jwks_requests == 1
    # ...after it, one refetch finds the new key.
    clock.now += 61
    _sign_in(client)
    assert provider.jwks_requests == 2
    # A made-up key id right after costs the provider nothing.
    provider.header_kid = "made-up"
    with pytest.raises(OidcError, match="signed with key 'made-up'"):
        _sign_in(client)
    assert provider.jwks_requests == 2


def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(
    provider: StrictProvider,
) -> None:
    client = _client(provider, Clock())
    _sign_in(client)
    provider.key = RSAKey.generate_key(2048, {"kid": "key-1"})  # same kid, other key
    with pytest.raises(OidcError, match="signature does not verify"):
        _sign_in(client)


def test_an_hmac_signed_token_is_refused(provider: StrictProvider) -> None:
    client = _client(provider, Clock())
    with pytest.raises(OidcError, match=r"alg 'HS256'; allowed: RS256"):
        client.validate_id_token("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", nonce="n")


def test_several_audiences_need_azp_naming_this_client(provider: StrictProvider) -> None:
    client = _client(provider, Clock())
    provider.token_tweaks = {"aud": [CLIENT_ID, "other"]}
    with pytest.raises(OidcError, match="several audiences and names another party"):
        _sign_in(client)
    provider.token_tweaks = {"aud": [CLIENT_ID, "other"], "azp": CLIENT_ID}
    assert _sign_in(client)["azp"] == CLIENT_ID


def test_discovery_naming_another_issuer_is_refused(provider: StrictProvider) -> None:
    # The same server under another name: its discovery document names 127.0.0.1.
    other = provider.issuer.replace("127.0.0.1", "localhost")
    client = OidcClient(issuer=other, client_id=CLIENT_ID, client_secret="")
    with pytest.raises(OidcError, match=r"names issuer 'http://127\.0\.0\.1:\d+', not the"):
        client.metadata()
