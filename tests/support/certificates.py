"""Certificate PEMs for tests: good RSA ones and every kind Entra cannot use (EC key, short key, a key of another
certificate, expired, encrypted key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _key(kind: str) -> Any:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=1024 if kind == "rsa1024" else 2048)


def pem(
    kind: str = "rsa",
    *,
    expired: bool = False,
    other_key: bool = False,
    encrypted: bool = False,
) -> str:
    """A self-signed certificate and its private key, PEM. kind: rsa (2048), rsa1024, ec."""
    key = _key(kind)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connector test")])
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=30), now - timedelta(days=1))
        if expired
        else (now - timedelta(hours=1), now + timedelta(days=365))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    private = _key(kind) if other_key else key
    protection = serialization.BestAvailableEncryption(b"a passphrase") if encrypted else serialization.NoEncryption()
    body = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)
    return (cert.public_bytes(serialization.Encoding.PEM) + body).decode()
