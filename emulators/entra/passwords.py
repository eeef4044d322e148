"""Entra's cloud password rules for a reset: length, character classes, ASCII, banned words, not the previous one."""

from __future__ import annotations

import string

SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")
BANNED = ("password", "passw0rd", "p@ssw0rd", "welcome", "letmein", "qwerty", "123456", "contoso", "summer2024")
COMPLEXITY = (
    "The specified password does not comply with password complexity requirements. Please provide a different password."
)
REUSED = "The specified password has been used previously. Please provide a different password."


def password_problem(password: str, previous: str | None, current: str | None) -> str | None:
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
    if password in (p for p in (previous, current) if p):
        return REUSED
    return None
