"""Entra's cloud password rules for an admin reset: length, character classes, ASCII, banned words. An admin (or app)
reset may set the current or a previous password again: password history applies when users change their own
password, not to resets (Learn: "Password policies and account restrictions in Microsoft Entra ID")."""

from __future__ import annotations

import string

SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")
BANNED = ("password", "passw0rd", "p@ssw0rd", "welcome", "letmein", "qwerty", "123456", "contoso", "summer2024")
COMPLEXITY = (
    "The specified password does not comply with password complexity requirements. Please provide a different password."
)


def password_problem(password: str) -> str | None:
    """None when the password is acceptable; otherwise the Graph error message to return."""
    if not 8 <= len(password) <= 256 or not password.isascii():
        return COMPLEXITY
    if any(ch not in SYMBOLS and not ch.isalnum() for ch in password):
        return COMPLEXITY  # control characters and the like
    classes = sum(
        (
            any(ch in string.ascii_lowercase for ch in password),
            any(ch in string.ascii_uppercase for ch in password),
            any(ch in string.digits for ch in password),
            any(ch in SYMBOLS for ch in password),
        )
    )
    if classes < 3:
        return COMPLEXITY
    lowered = password.lower()
    if any(word in lowered for word in BANNED):
        return COMPLEXITY  # Entra answers a banned password with the complexity message
    return None
