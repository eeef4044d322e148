"""Consent invitations (pure): the URL token (invitation id + HMAC with the consent signing key), parsed strictly
before any key is read, and the rules for an invitation's lifetime and state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

DEFAULT_DAYS = 7
MAX_DAYS = 30
DAY_S = 86400
INVITE_PARTITION = "invite"
InvitationState = Literal["open", "revoked", "used"]
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")  # 16 random bytes, base64url without padding
TOKEN = re.compile(r"([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")  # id, a dot, a 32-byte HMAC-SHA256


class BadInvitation(Exception):
    """The token is missing, malformed or forged; the message says which (never echoing it)."""


@dataclass(frozen=True)
class Invitation:
    id: str
    connection_id: str
    expires_at: int  # unix seconds
    state: InvitationState
    created_by: str

    def refusal(self, now: float) -> str | None:
        """The outcome that refuses opening it (invite_revoked, invite_used, invite_expired), or None."""
        if self.state == "revoked":
            return "invite_revoked"
        if self.state == "used":
            return "invite_used"
        if self.expires_at <= now:
            return "invite_expired"
        return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _mac(key: bytes, invitation_id: str) -> str:
    return _b64(hmac.new(key, f"invitation|{invitation_id}".encode(), hashlib.sha256).digest())


def sign_invitation(invitation_id: str, key: bytes) -> str:
    return f"{invitation_id}.{_mac(key, invitation_id)}"


def parse_invitation(token: str | None) -> tuple[str, str]:
    """(invitation id, mac text) when the shape is exactly right (no key needed). Raises BadInvitation."""
    if not token:
        raise BadInvitation("the invitation token is missing")
    match = TOKEN.fullmatch(token) if len(token) <= 66 else None
    if match is None:
        raise BadInvitation("the invitation token is malformed")
    invitation_id, mac_text = match.groups()
    if _b64(base64.urlsafe_b64decode(mac_text + "=")) != mac_text:  # only the canonical encoding
        raise BadInvitation("the invitation token is malformed")
    return invitation_id, mac_text


def verify_invitation(parsed: tuple[str, str], key: bytes) -> str:
    """The invitation id when the MAC is this app's. Raises BadInvitation."""
    invitation_id, mac_text = parsed
    if not hmac.compare_digest(_mac(key, invitation_id).encode(), mac_text.encode()):
        raise BadInvitation("the invitation token was not issued by this app")
    return invitation_id
