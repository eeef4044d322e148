"""Sealing a password to one agent: an ephemeral X25519 key agreed with the agent's registered public key, HKDF-SHA256,
AES-256-GCM bound to the job and user (agent/seal.py opens it). Only that agent's private key can read it."""

from __future__ import annotations

import base64
import os

INFO = b"entra-connector agent-v1 seal"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(agent_public_b64: str, plaintext: str, aad: str) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    peer = X25519PublicKey.from_public_bytes(_unb64(agent_public_b64))
    ephemeral = X25519PrivateKey.generate()
    eph_public = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = ephemeral.exchange(peer)
    key = HKDF(hashes.SHA256(), 32, salt=None, info=INFO + eph_public + _unb64(agent_public_b64)).derive(shared)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())
    return _b64(eph_public + nonce + sealed)
