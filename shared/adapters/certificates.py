"""Certificate PEM checks for customer app credentials: parse it, find its thumbprint hint and expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.domain.secret_values import Secret
from shared.errors import ValidationError


@dataclass(frozen=True)
class CertificateFacts:
    thumbprint: str  # SHA-1, upper-case hex, as the Entra portal shows it
    expires_on: datetime


def certificate_facts(pem: Secret) -> CertificateFacts:
    """ValidationError (field `certificate`) when the PEM lacks a readable certificate or private key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    data = pem.reveal().encode()
    try:
        cert = x509.load_pem_x509_certificate(data)
        serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValidationError(
            {"certificate": "must be PEM holding the certificate and its unencrypted private key"}
        ) from None
    return CertificateFacts(
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 (Entra identifies certs by SHA-1)
        expires_on=cert.not_valid_after_utc.astimezone(UTC),
    )
