"""The test-facing control panel of the Key Vault emulator: clock, counters, faults, delays, paging, RBAC."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulators.keyvault.rules import VaultError
from emulators.keyvault.state import Clock, Vault

if TYPE_CHECKING:
    from emulators.keyvault.auth import Authorizer

OPERATIONS = frozenset(
    {"set", "get", "update", "list", "list_versions", "delete", "get_deleted", "list_deleted", "recover", "purge"}
)


@dataclass
class _Fault:
    error: VaultError
    operations: frozenset[str] | None
    remaining: int


class Control:
    """Thread-safe; every method may be called from the test's thread while the server runs on its own."""

    def __init__(self, vault: Vault, clock: Clock, *, page_size: int = 25) -> None:
        self.vault = vault
        self.clock = clock
        self.page_size = page_size
        self._authorizer: Authorizer | None = None
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._faults: list[_Fault] = []

    def attach(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    # --- counters ------------------------------------------------------------------------------------------
    def count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def counters(self) -> dict[str, int]:
        """Successful operations by name ("set" is the number of creates), plus requests, unauthorized, forbidden,
        throttled and faults."""
        with self._lock:
            return dict(self._counts)

    # --- faults --------------------------------------------------------------------------------------------
    def inject_throttling(
        self, count: int = 1, *, retry_after: int = 1, operations: Iterable[str] | None = None
    ) -> None:
        """Answer the next `count` authenticated requests (of these operations) with 429 Throttled + Retry-After."""
        self.inject_error(
            429,
            "Throttled",
            "Request was not allowed because of throttling (injected).",
            count=count,
            operations=operations,
            retry_after=retry_after,
        )

    def inject_error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        count: int = 1,
        operations: Iterable[str] | None = None,
        retry_after: int | None = None,
        inner_code: str | None = None,
    ) -> None:
        ops = frozenset(operations) if operations is not None else None
        if ops is not None and not ops <= OPERATIONS:
            raise ValueError(f"unknown operations: {sorted(ops - OPERATIONS)}")
        error = VaultError(status, code, message, retry_after=retry_after, inner_code=inner_code)
        with self._lock:
            self._faults.append(_Fault(error, ops, count))

    def take_fault(self, operation: str) -> VaultError | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.operations is None or operation in fault.operations):
                    fault.remaining -= 1
                    return fault.error
            self._faults = [f for f in self._faults if f.remaining > 0]
            return None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # --- clock, limits, paging, RBAC ---------------------------------------------------------------------------
    def advance_clock(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def now(self) -> float:
        return self.clock.now()

    def set_create_limit(self, limit: int | None, window_s: float | None = None) -> None:
        """Creates allowed per window (None = unlimited); the default mirrors Azure: 300 per 10 s."""
        self.vault.create_limit = limit
        if window_s is not None:
            self.vault.create_window_s = window_s

    def set_delete_delay(self, seconds: float) -> None:
        """How long (emulator clock) a delete takes to complete; on by default (DELETE_DELAY_S). A test that is
        not about deletion may set 0, saying so; advancing the clock completes pending deletes at once."""
        if seconds < 0:
            raise ValueError("the delete delay cannot be negative")
        self.vault.delete_delay_s = float(seconds)

    @property
    def delete_delay(self) -> float:
        return self.vault.delete_delay_s

    def set_purge_protection(self, on: bool) -> None:
        """Purge protection (off by default, as on a new vault): purges are 403 and deleted secrets stay until the
        retention period ends; recoveryLevel says `Recoverable`."""
        self.vault.purge_protection = on

    def set_page_size(self, size: int) -> None:
        if not 1 <= size <= 25:
            raise ValueError("page size must be between 1 and 25")
        self.page_size = size

    def authorize(self, principals: Iterable[str] | None) -> None:
        """Allow only these app ids / object ids (others get 403 Forbidden); None allows every valid token."""
        if self._authorizer is None:
            raise RuntimeError("no authorizer attached")
        self._authorizer.set_authorized(principals)

    def snapshot(self) -> dict[str, Any]:
        return self.vault.snapshot()

    def reset(self) -> None:
        """Empty the vault and forget counters and faults (the clock, delays, limits and RBAC settings stay)."""
        self.vault.clear()
        with self._lock:
            self._counts.clear()
            self._faults.clear()
