"""Secret names are valid Key Vault names, stable, and never collide for different (kind, ids)."""

from __future__ import annotations

import copy
import logging
import pickle
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.secret_names import (
    CONSENT_STATE_SIGNING_KEY,
    client_cert_name,
    client_cert_ref,
    client_secret_name,
    client_secret_ref,
    consent_signing_key_ref,
    id_slot,
    is_valid_secret_name,
    password_name,
    password_ref,
)
from shared.domain.secret_values import Secret, SecretValue, SecretVersionInfo

ids = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.text(min_size=1, max_size=300))


def canonical(identifier: str) -> str:
    """Two ids are the same id when they are the same GUID in any case, else when they are equal strings."""
    try:
        parsed = uuid.UUID(identifier)
    except ValueError:
        return "raw:" + identifier
    return "guid:" + str(parsed) if str(parsed) == identifier.lower() else "raw:" + identifier


def all_names(a: str, b: str) -> dict[str, tuple[str, ...]]:
    return {
        client_secret_name(a): ("client-secret", canonical(a)),
        client_cert_name(a): ("client-cert", canonical(a)),
        password_name(a, b): ("password", canonical(a), canonical(b)),
        CONSENT_STATE_SIGNING_KEY: ("signing-key",),
    }


@given(ids, ids)
def test_every_name_is_a_valid_key_vault_name(connection_id: str, user_id: str) -> None:
    for name in all_names(connection_id, user_id):
        assert is_valid_secret_name(name), name
        assert len(name) <= 127


@given(st.lists(st.tuples(ids, ids), min_size=2, max_size=6))
def test_names_are_injective_case_insensitively(pairs: list[tuple[str, str]]) -> None:
    seen: dict[str, tuple[str, ...]] = {}
    for a, b in pairs:
        for name, meaning in all_names(a, b).items():
            previous = seen.setdefault(name.lower(), meaning)
            assert previous == meaning, f"{name} means both {previous} and {meaning}"


@given(ids)
def test_slots_are_fixed_width_and_stable(identifier: str) -> None:
    assert len(id_slot(identifier)) == 36
    assert id_slot(identifier) == id_slot(identifier)


def test_guids_stay_readable_and_other_ids_are_hashed() -> None:
    guid = "0F8FAD5B-D9CB-469F-A165-70867728950E"
    assert client_secret_name(guid) == "conn-0f8fad5b-d9cb-469f-a165-70867728950e-client-secret"
    assert password_name(guid, guid.lower()) == f"pwd-{guid.lower()}-{guid.lower()}"
    hashed = client_secret_name("contoso/prod")
    assert hashed.startswith("conn-x") and "contoso" not in hashed
    assert client_secret_name("Contoso") != client_secret_name("contoso")


def test_near_collisions_of_raw_ids_differ() -> None:
    assert password_name("ab", "c") != password_name("a", "bc")
    assert client_secret_name("a" * 300) != client_secret_name("a" * 301)


def test_empty_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        client_secret_name("")


@pytest.mark.parametrize("name", ["a", "A-1", "x" * 127])
def test_valid_names(name: str) -> None:
    assert is_valid_secret_name(name)


@pytest.mark.parametrize("name", ["", "x" * 128, "a_b", "a.b", "a b", "ä", "a/b"])
def test_invalid_names(name: str) -> None:
    assert not is_valid_secret_name(name)


def test_refs_carry_metadata_tags_within_key_vault_limits() -> None:
    conn, user = str(uuid.uuid4()), "user@" + "x" * 300
    ref = password_ref(conn, user)
    assert ref.name == password_name(conn, user)
    assert ref.tags["kind"] == "password" and ref.tags["connection-id"] == conn
    assert ref.tags["object-id"] == id_slot(user)  # too long for a tag value: its slot instead
    assert ref.tags["managed-by"] == "entra-connector"
    assert dict(ref.with_tags(rotated_at="2025-01-01T00:00:00Z"))["rotated-at"] == "2025-01-01T00:00:00Z"
    for r in (client_secret_ref(conn), client_cert_ref(conn), consent_signing_key_ref(), ref):
        assert len(r.tags) <= 15 and all(len(v) <= 256 for v in r.tags.values())
    assert consent_signing_key_ref().name == CONSENT_STATE_SIGNING_KEY


def test_secret_wrapper_hides_the_value_everywhere() -> None:
    secret = Secret("p@ss-w0rd")
    value = SecretValue(SecretVersionInfo(name="n", version="v"), secret)
    logged = logging.LogRecord("t", logging.INFO, "f", 1, "%s %r %s", (secret, secret, value), None).getMessage()
    for shown in (repr(secret), str(secret), f"{secret}", logged, repr(value), str(value)):
        assert "p@ss-w0rd" not in shown
    assert secret.reveal() == "p@ss-w0rd"
    assert secret == Secret("p@ss-w0rd") and secret != Secret("other")
    assert copy.deepcopy(value).value.reveal() == "p@ss-w0rd"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        hash(secret)
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
