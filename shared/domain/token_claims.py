"""Reading an access token's claims (tid, roles) to check what Entra granted; the token itself is never kept."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def claims_of(token: str) -> dict[str, Any]:
    """The JWT payload, unverified: only for tokens this app just received from the token endpoint over TLS."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, binascii.Error, ValueError, UnicodeError):
        return {}
    return data if isinstance(data, dict) else {}


def roles_of(token: str) -> set[str]:
    roles = claims_of(token).get("roles") or []
    return {str(r) for r in roles} if isinstance(roles, list) else set()
