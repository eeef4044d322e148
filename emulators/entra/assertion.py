"""Checks a client assertion (a JWT the app signs with its certificate key) the way Entra does."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulators.entra.errors import EntraError
from emulators.entra.model import App, Certificate


def _b64decode(segment: str) -> bytes:
    segment = segment.rstrip("=")  # azure-identity's async credentials pad their segments
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _invalid(reason: str) -> EntraError:
    return EntraError(
        401, "invalid_client", 700027, f"Client assertion failed signature validation. [Reason - {reason}]"
    )


def verify_client_assertion(app: App, assertion: str, audiences: set[str], now: float) -> Certificate:
    """Return the certificate that signed a valid assertion, or raise AADSTS700027 (700024 for its time range)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _invalid("The assertion is not a JWS.")
    try:
        header: dict[str, Any] = json.loads(_b64decode(parts[0]))
        claims: dict[str, Any] = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, TypeError) as exc:
        raise _invalid("The assertion could not be decoded.") from exc
    cert = _find_certificate(app, header)
    key = serialization.load_pem_public_key(cert.public_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise _invalid("Unsupported key type.")
    signed = f"{parts[0]}.{parts[1]}".encode()
    alg = header.get("alg")
    try:
        if alg == "RS256":
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            key.verify(signature, signed, pss, hashes.SHA256())
        else:
            raise _invalid(f"Unsupported algorithm '{alg}'.")
    except InvalidSignature as exc:
        raise _invalid("The signature does not match the registered certificate.") from exc
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise _invalid("The issuer and subject must be the client id.")
    if claims.get("aud") not in audiences:
        raise _invalid(f"The audience '{claims.get('aud')}' is not the token endpoint.")
    exp = float(claims.get("exp", 0))
    nbf = float(claims.get("nbf", claims.get("iat", 0)))
    if exp < now - 300 or nbf > now + 300:
        raise EntraError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
    return cert


def _find_certificate(app: App, header: dict[str, Any]) -> Certificate:
    s256, s1 = header.get("x5t#S256"), header.get("x5t")
    for cert in app.certificates:
        if s256 and _thumb(s256) == cert.sha256:
            return cert
        if s1 and _thumb(s1) == cert.sha1:
            return cert
    raise _invalid(f"The key was not found. Thumbprint of key used by client: '{s256 or s1}'")


def _thumb(value: str) -> bytes:
    try:
        return _b64decode(value)
    except (ValueError, TypeError):
        return b""
