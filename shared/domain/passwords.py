"""Password generation for rotation: cryptographically random, 24+ characters, all four classes, Entra-safe."""

from __future__ import annotations

import secrets
import string

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
# A subset of Entra's accepted symbols: no space, quotes, backslash or backtick, so the password survives being
# typed, pasted into a shell or put in JSON by a device without escaping surprises.
SYMBOLS = "@#$%^&*-_!+=[]{}|:,.?/~()<>;"
ALPHABET = LOWER + UPPER + DIGITS + SYMBOLS
CLASSES = (LOWER, UPPER, DIGITS, SYMBOLS)
MIN_LENGTH = 24
MAX_LENGTH = 256  # Entra's limit
DEFAULT_LENGTH = 32


def is_acceptable(password: str, length: int = MIN_LENGTH) -> bool:
    """True when the password has the length, only allowed characters and every character class."""
    return (
        length <= len(password) <= MAX_LENGTH
        and all(ch in ALPHABET for ch in password)
        and all(any(ch in cls for ch in password) for cls in CLASSES)
    )


def generate_password(length: int = DEFAULT_LENGTH, *, previous: str | None = None) -> str:
    """A new random password from `secrets`, never equal to `previous`."""
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"a rotated password has {MIN_LENGTH}-{MAX_LENGTH} characters, not {length}")
    while True:
        candidate = _candidate(length)
        if candidate != previous and is_acceptable(candidate, length):
            return candidate


def _candidate(length: int) -> str:
    chars = [secrets.choice(cls) for cls in CLASSES]
    chars += [secrets.choice(ALPHABET) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
