"""The agent's credentials on its own machine: an Ed25519 key pair that signs every request and an X25519 key pair
that opens passwords sent to it, made at registration and written to the state folder readable by the service
account only (0600); and the AD service account's password, read at use time from its own protected file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from agent.protocol import b64

STATE_FILE = "agent.json"
SIGNING_FILE = "signing-key.pem"
ENCRYPTION_FILE = "encryption-key.pem"


def write_private(path: Path, data: bytes) -> None:
    """Atomically, created 0600 (owner only) before any byte is written; Windows: the folder's ACL applies."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class AgentIdentity:
    agent_id: str
    connection_id: str
    service_url: str
    signing: Any  # Ed25519PrivateKey
    encryption: Any  # X25519PrivateKey


def new_keys() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return Ed25519PrivateKey.generate(), X25519PrivateKey.generate()


def public_b64(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def _pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))


def save_keys(state_dir: Path, signing: Any, encryption: Any) -> None:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(state_dir / SIGNING_FILE, _pem(signing))
    write_private(state_dir / ENCRYPTION_FILE, _pem(encryption))


def save_identity(state_dir: Path, agent_id: str, connection_id: str, service_url: str) -> None:
    data = {"agent_id": agent_id, "connection_id": connection_id, "service_url": service_url}
    write_private(state_dir / STATE_FILE, json.dumps(data, indent=2).encode())


def load_identity(state_dir: Path) -> AgentIdentity:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        signing = load_pem_private_key((state_dir / SIGNING_FILE).read_bytes(), None)
        encryption = load_pem_private_key((state_dir / ENCRYPTION_FILE).read_bytes(), None)
    except FileNotFoundError as exc:
        raise AgentError("not_registered", f"{exc.filename} is missing: run `register` first") from None
    return AgentIdentity(data["agent_id"], data["connection_id"], data["service_url"], signing, encryption)


def read_password(path: str) -> str:
    """The AD account's password, from a file only the service account can read (or systemd's
    $CREDENTIALS_DIRECTORY). Missing or empty: the job fails with `ad_credentials_missing`, nothing is guessed."""
    resolved = Path(os.path.expandvars(path))
    try:
        text = resolved.read_text(encoding="utf-8").rstrip("\r\n")
    except FileNotFoundError:
        text = ""
    if not text:
        raise AgentError("ad_credentials_missing", f"no AD service account password at {resolved}")
    return text
