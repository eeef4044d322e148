"""Certificate PEM checks for customer app credentials: can Entra use it (RSA key of 2048 bits or more, the key of
this certificate, unencrypted, valid now), and its thumbprint hint and expiry.

The app proves itself to Entra with a client assertion signed by the certificate's key with RS256 (Microsoft Learn:
"Microsoft identity platform application authentication certificate credentials"), which needs an RSA key;
azure-identity's CertificateCredential refuses any other key with a ValueError."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain.secret_values import Secret
from shared.errors import ValidationError

MIN_RSA_BITS = 2048
NOT_PEM = "must be PEM text holding the certificate and its private key"


@dataclass(frozen=True)
class CertificateFacts:
    thumbprint: str  # SHA-1, upper-case hex, as the Entra portal shows it
    expires_on: datetime


def _parse(pem: Secret, now: datetime | None, check_validity: bool = True) -> tuple[Any, str | None]:
    """(certificate or None, the problem or None)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    text = pem.reveal()
    if "-----BEGIN CERTIFICATE-----" not in text:
        return None, NOT_PEM
    data = text.encode()
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        return None, "the certificate cannot be read: give the PEM of the certificate and its private key"
    if "PRIVATE KEY-----" not in text:
        return cert, "the private key is missing: give the PEM of the certificate and its private key"
    if "ENCRYPTED" in text:
        return cert, "the private key is encrypted: give it unencrypted (Key Vault keeps it safe)"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "Password was not given but private key is encrypted"
        return cert, "the private key is encrypted: give it unencrypted (Key Vault keeps it safe)"
    except (ValueError, UnsupportedAlgorithm):
        return cert, "the private key cannot be read: give the PEM of the certificate and its private key"
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        got = f"RSA {key.key_size} bits" if isinstance(key, rsa.RSAPrivateKey) else type(key).__name__.strip("_")
        return cert, f"an RSA key of at least {MIN_RSA_BITS} bits is required (Entra uses RS256); this one is {got}"
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        return cert, "the private key does not match the certificate"
    moment = now or datetime.now(UTC)
    if not check_validity:
        return cert, None
    if cert.not_valid_after_utc <= moment:
        return cert, f"the certificate expired on {cert.not_valid_after_utc.date().isoformat()}"
    if cert.not_valid_before_utc > moment:
        return cert, f"the certificate is not valid before {cert.not_valid_before_utc.isoformat()}"
    return cert, None


def certificate_problem(pem: Secret, now: datetime | None = None, *, check_validity: bool = True) -> str | None:
    """Why Entra cannot use this certificate (for field `certificate`), or None when it can. Without
    `check_validity`, only what makes signing impossible (the validity period is then Entra's to judge)."""
    return _parse(pem, now, check_validity)[1]


def certificate_facts(pem: Secret) -> CertificateFacts:
    """ValidationError (field `certificate`) when the certificate cannot be used."""
    from cryptography.hazmat.primitives import hashes

    cert, problem = _parse(pem, None)
    if problem is not None:
        raise ValidationError({"certificate": problem})
    return CertificateFacts(
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 (Entra identifies certs by SHA-1)
        expires_on=cert.not_valid_after_utc.astimezone(UTC),
    )
