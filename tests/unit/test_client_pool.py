"""The process's client pool: one client per key, one pool per event loop, every client closed once."""

from __future__ import annotations

import asyncio

import pytest

from shared.client_pool import ClientPool, close_pool, current_pool, fingerprint


class Client:
    def __init__(self, name: str, closed: list[str], fail: bool = False) -> None:
        self.name, self.closed, self.fail = name, closed, fail

    async def close(self) -> None:
        self.closed.append(self.name)
        if self.fail:
            raise RuntimeError("cannot close")


async def test_a_client_is_made_once_per_key_and_all_are_closed_in_reverse() -> None:
    closed: list[str] = []
    made: list[str] = []
    pool = ClientPool()

    def make(name: str, fail: bool = False) -> Client:
        made.append(name)
        return Client(name, closed, fail)

    first = pool.get("a", lambda: make("a"), lambda c: c.close)
    assert pool.get("a", lambda: make("a-again"), lambda c: c.close) is first
    pool.get("b", lambda: make("b", fail=True), lambda c: c.close)
    pool.get(("c", 1), lambda: make("c"), lambda c: c.close)
    assert made == ["a", "b", "c"] and len(pool) == 3
    await pool.close()  # a client that fails to close does not keep the others open
    assert closed == ["c", "b", "a"] and len(pool) == 0
    assert pool.get("a", lambda: make("a2"), lambda c: c.close).name == "a2"


def test_each_event_loop_has_its_own_pool_and_closing_one_leaves_the_rest() -> None:
    async def pool_and_close(close: bool) -> ClientPool:
        pool = current_pool()
        assert current_pool() is pool
        if close:
            await close_pool()
            assert current_pool() is not pool
            await close_pool()
        return pool

    one = asyncio.run(pool_and_close(close=True))
    other = asyncio.run(pool_and_close(close=True))
    assert one is not other


def test_a_fingerprint_names_material_without_holding_it() -> None:
    secret = "s3cr3t~value"
    print_ = fingerprint(secret)
    assert secret not in print_ and len(print_) == 64
    assert fingerprint(secret) == print_ and fingerprint(secret + "x") != print_


def test_current_pool_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        current_pool()
