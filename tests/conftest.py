"""Session fixtures shared by every test layer: Azurite and the emulators, started once and always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.azurite import Azurite, start_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite; the run fails (never skips) when it cannot start."""
    with start_azurite() as instance:
        yield instance


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string
