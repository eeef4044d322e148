"""Clients kept for the life of the worker process, as Azure Functions recommends ("Manage connections in Azure
Functions": reuse client instances rather than making new ones in every invocation).

The Functions host keeps its Python worker between invocations and runs async functions on one event loop, so a
client made in one invocation serves the next: its connections stay open (no new TCP/TLS handshakes) and a
credential's token cache stays warm (no new token request until the token is close to expiry). Async clients
belong to the loop they were made on, so there is one pool per event loop; tests, the demo and the CLI, which run
several loops, close a loop's pool before the loop ends (`close_pool`).

Nothing happens at import time: the registry is an empty dictionary until a function asks for a client."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ClientPool:
    """Clients by key, each made once (by its factory) and closed together (by its closer)."""

    def __init__(self) -> None:
        self._items: dict[Hashable, Any] = {}
        self._closers: list[Callable[[], Awaitable[Any]]] = []

    def get(self, key: Hashable, factory: Callable[[], T], close: Callable[[T], Callable[[], Awaitable[Any]]]) -> T:
        if key not in self._items:
            item = factory()
            self._items[key] = item
            self._closers.append(close(item))
        value: T = self._items[key]
        return value

    def __len__(self) -> int:
        return len(self._items)

    async def close(self) -> None:
        closers, self._closers, self._items = self._closers, [], {}
        for closer in reversed(closers):
            try:
                await closer()
            except Exception:  # closing must not fail an invocation; the client is dropped either way
                log.warning("a pooled client did not close cleanly", exc_info=True)


_POOLS: dict[int, tuple[asyncio.AbstractEventLoop, ClientPool]] = {}


def current_pool() -> ClientPool:
    """The pool of the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    entry = _POOLS.get(id(loop))
    if entry is None or entry[0] is not loop:
        entry = _POOLS[id(loop)] = (loop, ClientPool())
    return entry[1]


async def close_pool() -> None:
    """Close the running loop's pooled clients (before the loop ends: tests, the demo, the CLI)."""
    entry = _POOLS.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].close()


def fingerprint(secret: str) -> str:
    """A key for secret material that does not hold it (a rotated secret gets a new credential)."""
    return hashlib.sha256(secret.encode()).hexdigest()
