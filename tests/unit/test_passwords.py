"""The rotation password generator: long, every class, only Entra-accepted characters, never the previous one."""

from __future__ import annotations

import pytest

from emulators.entra.passwords import password_problem
from shared.domain import passwords
from shared.domain.passwords import generate_password, is_acceptable


def test_generated_passwords_are_long_varied_and_accepted_by_entra_rules() -> None:
    seen = set()
    for _ in range(300):
        pw = generate_password()
        assert len(pw) >= 24
        assert is_acceptable(pw)
        assert password_problem(pw) is None
        seen.add(pw)
    assert len(seen) == 300


def test_symbols_are_all_accepted_by_entra() -> None:
    from emulators.entra.passwords import SYMBOLS

    assert set(passwords.SYMBOLS) <= SYMBOLS
    assert set(passwords.ALPHABET).isdisjoint(set(" '\"\\`"))


def test_never_equal_to_previous(monkeypatch: pytest.MonkeyPatch) -> None:
    first = "aA1!" * 6
    answers = iter([first, first, "bB2@" * 6])
    monkeypatch.setattr(passwords, "_candidate", lambda length: next(answers))
    assert generate_password(24, previous=first) == "bB2@" * 6


def test_length_bounds() -> None:
    assert len(generate_password(24)) == 24
    assert len(generate_password(256)) == 256
    with pytest.raises(ValueError):
        generate_password(23)
    with pytest.raises(ValueError):
        generate_password(257)


def test_is_acceptable_needs_every_class() -> None:
    assert not is_acceptable("a" * 30)
    assert not is_acceptable("aA1" * 10)
    assert not is_acceptable("aA1! " * 6)  # space is left out on purpose
    assert is_acceptable("aA1!" * 6)
