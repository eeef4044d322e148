"""Integration fixtures: the Key Vault emulator with its token endpoint (one per session, emptied per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from azure.keyvault.secrets.aio import SecretClient

from tests.support.keyvault import KeyVaultStack, start_keyvault_stack


@pytest.fixture(scope="session")
def keyvault_stack() -> Iterator[KeyVaultStack]:
    """The emulator and the token endpoint it trusts; the run fails (never skips) when they cannot start."""
    with start_keyvault_stack() as stack:
        yield stack


@pytest.fixture
def keyvault(keyvault_stack: KeyVaultStack) -> KeyVaultStack:
    """The session's vault, empty and with default settings."""
    keyvault_stack.reset()
    return keyvault_stack


@pytest.fixture
async def secret_client(keyvault: KeyVaultStack) -> AsyncIterator[SecretClient]:
    """The real async SecretClient, authenticated through the challenge by a real ClientSecretCredential."""
    credential = keyvault.credential()
    async with credential, keyvault.secret_client(credential) as client:
        yield client
