"""Certificates Entra cannot use are refused at input, each with its reason, field `certificate`; a good one passes
and gives its thumbprint hint and expiry."""

from __future__ import annotations

import pytest

from shared.adapters.certificates import certificate_facts, certificate_problem
from shared.domain.connection_input import parse_create
from shared.domain.secret_values import Secret
from shared.errors import ValidationError
from tests.support.certificates import pem

GUID = "0f5a3c2e-1111-4222-8333-944455556666"
GOOD = pem()


@pytest.mark.parametrize(
    ("material", "reason"),
    [
        (pem("ec"), "RSA key of at least 2048 bits"),
        (pem("rsa1024"), "RSA key of at least 2048 bits"),
        (pem(other_key=True), "does not match the certificate"),
        (pem(expired=True), "expired"),
        (pem(encrypted=True), "encrypted"),
        ("not a certificate at all", "PEM"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            + GOOD.split("-----END CERTIFICATE-----\n")[1],
            "certificate cannot be read",
        ),
        (GOOD.split("-----END CERTIFICATE-----\n")[0] + "-----END CERTIFICATE-----\n", "private key"),
    ],
    ids=["ec", "rsa1024", "other-key", "expired", "encrypted", "not-pem", "bad-cert", "no-key"],
)
def test_unusable_certificates_are_refused_with_the_reason(material: str, reason: str) -> None:
    problem = certificate_problem(Secret(material))
    assert problem is not None and reason in problem
    with pytest.raises(ValidationError) as refused:
        certificate_facts(Secret(material))
    assert set(refused.value.problems) == {"certificate"}
    body = {"tenant": GUID, "display_name": "x", "credential_mode": "customer_app", "client_id": GUID}
    with pytest.raises(ValidationError) as parsed:
        parse_create({**body, "certificate": material, "bogus": 1}, certificate_check=certificate_problem)
    assert set(parsed.value.problems) == {"certificate", "bogus"}  # reported with the other problems
    assert reason in parsed.value.problems["certificate"]


def test_a_good_certificate_passes_and_gives_its_facts() -> None:
    assert certificate_problem(Secret(GOOD)) is None
    facts = certificate_facts(Secret(GOOD))
    assert len(facts.thumbprint) == 40 and facts.expires_on.tzinfo is not None
