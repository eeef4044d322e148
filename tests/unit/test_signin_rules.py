"""End-user sign-in's pure rules with literal data: the ID token of any organisation's tenant (signature, issuer
from the {tenantid} template, audience, expiry, nonce; forged, re-signed and other-tenant tokens), registered
return URLs, Entra's answers, and the groups claim with its overage form."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.domain import signin as rules
from shared.domain.id_token import CONSUMER_TENANT, IdTokenRejected, verified_tenant_claims

TEMPLATE = "https://login.example/{tenantid}/v2.0"
TID = "11111111-2222-3333-4444-555555555555"
OTHER = "99999999-8888-7777-6666-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
NOW = 1_800_000_000


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


TENANT_KEY, ATTACKER_KEY = _key(), _key()


def _jwks(key: rsa.RSAPrivateKey, kid: str = "k1", **extra: Any) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", **extra}]}


def _token(key: rsa.RSAPrivateKey = TENANT_KEY, kid: str = "k1", **claims: Any) -> str:
    body = {
        "iss": TEMPLATE.replace("{tenantid}", TID), "aud": CLIENT, "tid": TID, "oid": TID, "nonce": "n" * 43,
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600, **claims,
    }  # fmt: skip
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def _check(token: str, jwks: dict[str, Any] | None = None, now: float = NOW) -> dict[str, Any]:
    return verified_tenant_claims(
        token, jwks or _jwks(TENANT_KEY), issuer_template=TEMPLATE, client_id=CLIENT, nonce="n" * 43, now=now
    )


def test_a_good_token_is_accepted() -> None:
    assert _check(_token())["tid"] == TID


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (_token(ATTACKER_KEY), "not a valid signed token"),  # forged: another key under the tenant's kid
        (_token(kid="k2"), "a key the tenant does not publish"),
        (_token(aud="someone-else"), "another application"),
        (_token(nonce="m" * 43), "nonce"),
        (_token(exp=NOW - 600), "expired"),
        (_token(iss=TEMPLATE.replace("{tenantid}", OTHER)), "another authority"),  # iss of another tenant than tid
        (_token(tid=OTHER), "another authority"),  # tid of another tenant than iss
        (_token(tid=CONSUMER_TENANT, iss=TEMPLATE.replace("{tenantid}", CONSUMER_TENANT)), "no organisation"),
        (_token(tid="not-a-guid"), "no organisation"),
        ("not.a.token", "not a valid signed token"),
    ],
)
def test_bad_tokens_are_refused(token: str, reason: str) -> None:
    with pytest.raises(IdTokenRejected) as refused:
        _check(token)
    assert refused.value.outcome == "id_token_invalid" and reason in refused.value.reason


def test_a_re_signed_token_is_refused() -> None:
    """The tenant's token with its payload edited (another oid) and signed again by someone else."""
    header, _, _ = _token().split(".")
    edited = jwt.decode(_token(), options={"verify_signature": False}) | {"oid": OTHER}
    resigned = jwt.encode(edited, ATTACKER_KEY, algorithm="RS256", headers={"kid": "k1"})
    assert resigned.split(".")[0] == header
    with pytest.raises(IdTokenRejected):
        _check(resigned)


def test_a_key_naming_another_issuer_is_refused() -> None:
    with pytest.raises(IdTokenRejected, match="another issuer"):
        _check(_token(), _jwks(TENANT_KEY, issuer="https://elsewhere/{tenantid}/v2.0"))
    assert _check(_token(), _jwks(TENANT_KEY, issuer=TEMPLATE))["oid"] == TID


REGISTERED = ("https://app.example/signed-in", "http://localhost:3000/back")


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [
        ("https://app.example/signed-in", True),
        ("https://APP.example:443/signed-in?next=%2Fhome", True),
        ("http://localhost:3000/back", True),
        ("https://app.example/signed-in/", False),
        ("https://app.example:8443/signed-in", False),
        ("http://app.example/signed-in", False),
        ("https://app.example.evil/signed-in", False),
        ("https://app.example/signed-in#frag", False),
        ("https://app.example/signed-in?code=mine", False),
        ("https://user:pw@app.example/signed-in", False),
        ("//app.example/signed-in", False),
        ("javascript:alert(1)", False),
        ("https://app.example/signed-in\r\nX: y", False),
        (None, False),
    ],
)
def test_return_to_must_match_a_registered_url(raw: str | None, allowed: bool) -> None:
    assert rules.allowed_return_to(raw, REGISTERED) == (raw if allowed else None)


@pytest.mark.parametrize(
    ("query", "outcome"),
    [
        ({"code": "x"}, None),
        ({}, "no_code"),
        ({"error": "access_denied", "error_description": "AADSTS65004: User declined"}, "cancelled"),
        ({"error": "access_denied"}, "cancelled"),
        (
            {"error": "consent_required", "error_description": "AADSTS90094: The grant requires admin"},
            "user_consent_disabled",
        ),
        ({"error": "consent_required", "error_description": "AADSTS65001: not consented"}, "app_not_consented"),
        ({"error": "invalid_request", "error_description": "AADSTS50020: User account from"}, "wrong_tenant"),
        ({"error": "server_error", "error_description": "AADSTS90033: unavailable"}, "signin_failed"),
    ],
)
def test_entras_answers(query: dict[str, str], outcome: str | None) -> None:
    assert rules.answer_outcome(query) == outcome


def test_the_groups_claim_and_its_overage_form() -> None:
    assert rules.groups_claim({"groups": ["B", "a"]}) == ("listed", ["a", "b"])
    overage = {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph/x"}}}
    assert rules.groups_claim(overage) == ("overage", [])
    assert rules.groups_claim({}) == ("absent", [])


def test_hand_off_codes_are_stored_hashed() -> None:
    key = rules.handoff_key("c" * 43)
    assert len(key) == 64 and "c" * 43 not in key
