"""RS256 access tokens as Entra issues them: one signing key per emulator run, verifiable by other emulators."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class InvalidToken(Exception):
    """The bearer token is missing, malformed, badly signed, expired or meant for another audience."""


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenSigner:
    """Signs access tokens and verifies them; `jwks()` publishes the public key like Entra's discovery keys."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(public_der).hexdigest()[:32]
        self._public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def issue(self, claims: dict[str, Any], lifetime_s: int = 3599, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        body = {"iat": issued, "nbf": issued, "exp": issued + lifetime_s, "uti": uuid.uuid4().hex, **claims}
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def verify(self, token: str, audience: str | list[str], now: float | None = None) -> dict[str, Any]:
        return verify_with_key(token, self._public_pem, audience, now)

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": self.kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            ]
        }

    @property
    def public_pem(self) -> bytes:
        return self._public_pem


def verify_with_key(
    token: str, public_pem: bytes, audience: str | list[str], now: float | None = None
) -> dict[str, Any]:
    """Check signature, audience and expiry (as of `now`, the emulator's clock); return claims or raise InvalidToken."""
    options: Any = {"require": ["exp", "aud", "tid"], "verify_exp": False, "verify_nbf": False, "verify_iat": False}
    try:
        claims: dict[str, Any] = jwt.decode(token, public_pem, algorithms=["RS256"], audience=audience, options=options)
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken("the access token was issued for another resource") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"the access token is invalid: {exc}") from exc
    current = time.time() if now is None else now
    if float(claims["exp"]) <= current:
        raise InvalidToken("the access token has expired")
    return claims


def verifier_from_jwks(jwks: dict[str, Any]) -> bytes:
    """Public key PEM from a JWKS document (the first RSA key), for an emulator started apart from Entra's."""
    key = jwt.PyJWK(jwks["keys"][0]).key
    pem: bytes = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem
