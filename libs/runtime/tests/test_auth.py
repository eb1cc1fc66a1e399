"""Bearer token verification and the account-reading rule, without a stack."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from crm_cli import tokens

from crm_runtime.auth import (AccountStanding, Caller, NotConfigured, Unauthenticated, Verifier,
                              may_administer_account, may_read_own)


@pytest.fixture
def keys(tmp_path):
    jwks = tokens.ensure_dev_keys(tmp_path / "idp")
    return tmp_path / "idp" / tokens.PRIVATE_FILE, jwks


@pytest.fixture
def verifier(keys):
    return Verifier(jwks_file=str(keys[1]), issuer=tokens.DEV_ISSUER, audience=tokens.DEV_AUDIENCE, leeway_s=0)


async def test_a_good_token_names_its_subject_and_scopes(keys, verifier):
    caller = await verifier.verify(tokens.mint(keys[0], "u-1"))
    assert caller == Caller("u-1") and not caller.operator
    assert (await verifier.verify(tokens.mint(keys[0], "ops", operator=True))).operator


@pytest.mark.parametrize(("options", "reason"), [
    ({"ttl_s": -5}, "the token has expired"),
    ({"not_before_s": 120}, "the token is not valid yet (nbf)"),
    ({"audience": "another-platform"}, "the token is not meant for this platform (aud)"),
    ({"issuer": "https://evil.example"}, "the token was not issued by the configured identity provider (iss)"),
])
async def test_claims_are_checked(keys, verifier, options, reason):
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(tokens.mint(keys[0], "u-1", **options))
    assert refused.value.reason == reason


async def test_a_token_signed_by_another_key_or_with_no_signature_is_refused(keys, verifier, tmp_path):
    other = tokens.ensure_dev_keys(tmp_path / "other").parent / tokens.PRIVATE_FILE
    forged = tokens.mint(other, "u-1")
    # Same key id as the real key: only the signature tells them apart.
    header = jwt.get_unverified_header(tokens.mint(keys[0], "u-1"))
    forged_same_kid = jwt.encode(jwt.decode(forged, options={"verify_signature": False}), _pem(other),
                                 algorithm="ES256", headers={"kid": header["kid"]})
    unsigned = jwt.encode({"iss": tokens.DEV_ISSUER, "aud": tokens.DEV_AUDIENCE, "sub": "u-1", "iat": 1,
                           "exp": 4102444800}, None, algorithm="none", headers={"kid": header["kid"]})
    # The public key used as an HMAC secret: the classic algorithm-confusion forgery.
    # PyJWT refuses to sign with it (since 2.12), so it is made by hand, as an attacker would.
    public_pem = json.dumps(json.loads(keys[1].read_text())).encode()
    confused = _hs256({"iss": tokens.DEV_ISSUER, "aud": tokens.DEV_AUDIENCE, "sub": "u-1", "iat": 1,
                       "exp": 4102444800}, public_pem, kid=header["kid"])
    for token, reason in ((forged, "the token was signed with a key this service does not know"),
                          (forged_same_kid, "the token's signature does not verify"),
                          (unsigned, "the token is not valid (InvalidAlgorithmError)"),
                          (confused, "the token is not valid (InvalidAlgorithmError)"),
                          ("not-a-jwt", "the bearer token is not a JWT")):
        with pytest.raises(Unauthenticated) as refused:
            await verifier.verify(token)
        assert refused.value.reason == reason, token


def _hs256(claims: dict, secret: bytes, *, kid: str) -> str:
    def part(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signed = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + b"." + \
        part(json.dumps(claims).encode())
    return (signed + b"." + part(hmac.new(secret, signed, hashlib.sha256).digest())).decode()


def _pem(private):
    return serialization.load_pem_private_key(private.read_bytes(), password=None)


async def test_required_claims_must_be_there(keys, verifier):
    token = jwt.encode({"iss": tokens.DEV_ISSUER, "aud": tokens.DEV_AUDIENCE, "iat": 1, "exp": 4102444800},
                       _pem(keys[0]), algorithm="ES256",
                       headers={"kid": jwt.get_unverified_header(tokens.mint(keys[0], "x"))["kid"]})
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "the token has no sub claim"


async def test_a_rotated_key_file_is_read_again(keys, verifier):
    await verifier.verify(tokens.mint(keys[0], "u-1"))
    keys[0].unlink()
    tokens.ensure_dev_keys(keys[0].parent)  # a new pair in place of the old one
    assert (await verifier.verify(tokens.mint(keys[0], "u-2"))).user_id == "u-2"


async def test_without_keys_nothing_is_accepted(keys):
    with pytest.raises(NotConfigured):
        await Verifier(issuer="x", audience="y").verify(tokens.mint(keys[0], "u-1"))


def test_who_administers_an_account():
    owner = AccountStanding(owner_user_id="olive", administers=False, status=None)
    assert may_administer_account(Caller("olive"), owner).allowed
    assert not may_administer_account(Caller("ana"), owner).allowed
    assert may_administer_account(Caller("ana"), AccountStanding("olive", True, "active")).allowed
    assert not may_administer_account(Caller("ana"), AccountStanding("olive", True, "inactive")).allowed
    assert not may_administer_account(Caller("ana"), AccountStanding("olive", False, "active")).allowed
    refused = may_administer_account(Caller("ana"), None)  # an unknown account says no more than "no"
    assert (refused.allowed, refused.reason) == (False, "not_account_admin")
    assert may_administer_account(Caller("ops", frozenset({"crm.operator"})), None).allowed


def test_a_user_reads_their_own():
    assert may_read_own(Caller("ana"), "ana").allowed
    assert may_read_own(Caller("ana"), "ben").reason == "not_yourself"
    assert may_read_own(Caller("ops", frozenset({"crm.operator"})), "ben").allowed


async def test_an_unknown_key_id_fetches_the_providers_keys_at_most_once_a_minute(keys, monkeypatch):
    """Tokens with made-up key ids must not turn every request into a call to the provider."""
    import crm_runtime.auth as auth

    import io
    import types

    import jwt.jwks_client

    fetches = []

    class Provider:  # the provider's JWKS endpoint, counted
        def open(self, _request, **_kwargs):
            fetches.append(1)
            return io.BytesIO(keys[1].read_bytes())

    monkeypatch.setattr(jwt.jwks_client.urllib.request, "build_opener", lambda *_handlers: Provider())
    clock = [1000.0]
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))  # auth's clock only
    v = Verifier(jwks_url="https://idp.example/jwks", issuer=tokens.DEV_ISSUER, audience=tokens.DEV_AUDIENCE)
    good = tokens.mint(keys[0], "u-1")
    assert (await v.verify(good)).user_id == "u-1" and len(fetches) == 1  # first use: fetched once

    private = serialization.load_pem_private_key(keys[0].read_bytes(), password=None)
    forged = [jwt.encode({"sub": "x"}, private, algorithm="ES256", headers={"kid": f"made-up-{i}"}) for i in range(50)]
    for token in forged:
        with pytest.raises(Unauthenticated):
            await v.verify(token)
    assert len(fetches) == 2  # one refetch for the first unknown id, none for the other 49
    clock[0] += 61
    with pytest.raises(Unauthenticated):
        await v.verify(forged[0])
    assert len(fetches) == 3  # a minute later: one more look, in case the provider rotated its keys
    assert (await v.verify(good)).user_id == "u-1" and len(fetches) == 3  # a known key: from the cache
