"""The sign-in proof (pure): ID token validation and the consent-admin rule; the fixed answers to the admin-consent
and sign-in redirects."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.domain.connection import Connection
from shared.domain.consent_outcomes import OUTCOMES, audited_error, consent_answer_outcome, signin_answer_outcome
from shared.domain.id_token import IdTokenRejected, consent_admin, verified_claims

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CLIENT = "6b5659cc-7e47-4e0b-b4eb-17e3ad5d0d15"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
NOW = 1_800_000_000
GA, PRA, USER_ADMIN, MEMBER = (
    "62e90394-69f5-4237-9190-012177145e10",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "b79fbf4d-3ef9-4689-8143-76b194e85509",
)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "use": "sig"}
JWKS = {"keys": [JWK]}


def token(key: Any = KEY, kid: str = "k1", alg: str = "RS256", **changes: Any) -> str:
    claims: dict[str, Any] = {
        "aud": CLIENT,
        "iss": ISSUER,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3600,
        "tid": TENANT,
        "oid": "0b1c2d3e-0000-4000-8000-000000000001",
        "nonce": "the-nonce",
        "wids": [GA, MEMBER],
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def check(raw: str) -> dict[str, Any]:
    return verified_claims(raw, JWKS, issuer=ISSUER, client_id=CLIENT, nonce="the-nonce", now=NOW)


def test_a_valid_id_token_of_a_global_administrator() -> None:
    admin = consent_admin(check(token()), TENANT)
    assert admin.tenant_id == TENANT and admin.roles == ("Global Administrator",)
    assert consent_admin(check(token(wids=[PRA])), TENANT.upper()).roles == ("Privileged Role Administrator",)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (token(key=OTHER_KEY), "not a valid signed token"),
        (token(kid="k2"), "key the tenant does not publish"),
        (token(aud="someone-else"), "aud"),
        (token(iss=f"https://login.microsoftonline.com/{'0' * 8}-0000-4000-8000-000000000000/v2.0"), "iss"),
        (token(exp=NOW - 121), "expired"),
        (token(nbf=NOW + 600), "not valid yet"),
        (token(iat=NOW + 600), "future"),
        (token(nonce="another"), "nonce"),
        (token(nonce=None), "nonce"),
        (token(exp=None), "not a valid signed token"),
        (token(alg="HS256", key="k" * 32), "algorithm"),
        ("not.a.jwt", "not a valid signed token"),
    ],
)
def test_id_token_checks(raw: str, reason: str) -> None:
    with pytest.raises(IdTokenRejected, match=reason) as caught:
        check(raw)
    assert caught.value.outcome == "id_token_invalid"


def test_an_unsigned_token_is_refused() -> None:
    unsigned = jwt.encode({"aud": CLIENT, "iss": ISSUER, "exp": NOW + 60, "iat": NOW}, None, algorithm="none")
    with pytest.raises(IdTokenRejected):
        check(unsigned)


@pytest.mark.parametrize(
    ("claims", "outcome"),
    [
        ({"tid": "11111111-2222-4333-8444-555555555555"}, "tenant_mismatch"),
        ({"tid": None}, "tenant_mismatch"),
        ({"wids": None}, "roles_missing"),
        ({"wids": "62e90394-69f5-4237-9190-012177145e10"}, "roles_missing"),
        ({"wids": [MEMBER]}, "not_admin"),
        ({"wids": [USER_ADMIN, MEMBER]}, "not_admin"),
        ({"wids": []}, "not_admin"),
    ],
)
def test_the_account_must_be_a_consent_admin_of_the_connections_tenant(claims: dict[str, Any], outcome: str) -> None:
    with pytest.raises(IdTokenRejected) as caught:
        consent_admin(check(token(**claims)), TENANT)
    assert caught.value.outcome == outcome


CONNECTION = Connection(id=TENANT, tenant_id=TENANT, display_name="x", credential_mode="admin_consent")


@pytest.mark.parametrize(
    ("query", "outcome"),
    [
        ({"admin_consent": "True", "tenant": TENANT}, None),
        ({"admin_consent": "True"}, None),
        ({"admin_consent": "True", "tenant": TENANT.upper()}, None),
        ({"admin_consent": "False", "tenant": TENANT}, "not_granted"),
        ({"admin_consent": "true", "tenant": TENANT}, "not_granted"),
        ({"tenant": TENANT}, "not_granted"),
        ({"admin_consent": "True", "tenant": "other"}, "tenant_mismatch"),
        ({"admin_consent": "True", "tenant": TENANT, "error": "consent_required"}, "declined"),
        ({"error": "access_denied", "error_subcode": "cancel"}, "declined"),
        ({"error": "server_error", "admin_consent": "True"}, "consent_error"),
    ],
)
def test_the_admin_consent_answer(query: dict[str, str], outcome: str | None) -> None:
    assert consent_answer_outcome(query, CONNECTION) == outcome


def test_a_disabled_connection_is_refused_even_with_consent() -> None:
    disabled = CONNECTION.with_changes(state="disabled")
    assert consent_answer_outcome({"admin_consent": "True", "tenant": TENANT}, disabled) == "disabled"


def test_the_sign_in_answer_and_audited_error_codes() -> None:
    assert signin_answer_outcome({"code": "c"}) is None
    assert signin_answer_outcome({}) == "no_code"
    assert signin_answer_outcome({"error": "access_denied"}) == "signin_cancelled"
    assert signin_answer_outcome({"error": "login_required", "code": "c"}) == "signin_failed"
    assert audited_error({"error": "consent_required"}) == "consent_required"
    assert audited_error({"error": "<script>call 555</script>"}) == "other error code"


def test_every_outcome_has_a_fixed_text_naming_no_query_value() -> None:
    for code, outcome in OUTCOMES.items():
        assert outcome.title and outcome.message, code
        assert "{" not in outcome.message and 200 <= outcome.status < 600
