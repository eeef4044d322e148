"""The token bucket that keeps rotation under Graph's and Key Vault's write limits, on a fake clock."""

from __future__ import annotations

import pytest

from shared.domain.rate_limit import KEYVAULT_SECRET_CREATES, TokenBucket, bucket_for


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_up_to_capacity_then_waits_at_the_refill_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(300, 10.0, clock=clock)
    assert [bucket.take() for _ in range(300)] == [0.0] * 300
    assert bucket.take() == pytest.approx(1 / 30)
    assert bucket.take() == pytest.approx(2 / 30)


def test_refills_over_time_but_never_beyond_capacity() -> None:
    clock = Clock()
    bucket = TokenBucket(3000, 150.0, clock=clock)
    for _ in range(3000):
        bucket.take()
    clock.t += 15.0  # 20 tokens a second
    assert bucket.available() == pytest.approx(300)
    clock.t += 10_000
    assert bucket.available() == pytest.approx(3000)


async def test_acquire_sleeps_for_the_wait_and_sustained_rate_holds() -> None:
    clock = Clock()
    bucket = TokenBucket(10, 10.0, clock=clock)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.t += seconds

    for _ in range(40):
        await bucket.acquire(sleep=sleep)
    assert sum(slept) == pytest.approx(30.0)  # 10 free, then 30 more at 1 a second


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1.0)
    with pytest.raises(ValueError):
        TokenBucket(5, 1.0).take(6)


def test_buckets_are_shared_per_key() -> None:
    a = bucket_for("keyvault-creates", "https://v1")
    assert bucket_for("keyvault-creates", "https://v1") is a
    assert bucket_for("keyvault-creates", "https://v2") is not a
    assert a.capacity == KEYVAULT_SECRET_CREATES[0]
    assert bucket_for("graph-writes", "t1").capacity == 3000
