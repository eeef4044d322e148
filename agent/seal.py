"""Opening a password the service sealed to this agent (shared/services/agent_seal.py): X25519 with the agent's
private key, HKDF-SHA256, AES-256-GCM bound to the job and user. A box for another agent or job does not open."""

from __future__ import annotations

from typing import Any

from agent.errors import AgentError
from agent.protocol import unb64

INFO = b"entra-connector agent-v1 seal"


def open_sealed(private_key: Any, sealed: str, aad: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = unb64(sealed)
    eph_public, nonce, box = raw[:32], raw[32:44], raw[44:]
    mine = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = private_key.exchange(X25519PublicKey.from_public_bytes(eph_public))
    key = HKDF(hashes.SHA256(), 32, salt=None, info=INFO + eph_public + mine).derive(shared)
    try:
        return bytes(AESGCM(key).decrypt(nonce, box, aad.encode())).decode()
    except InvalidTag:
        raise AgentError("seal_invalid", "a sealed password does not open with this agent's key") from None
