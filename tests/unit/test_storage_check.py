"""The storage-loss verdict with literal numbers: small copies counted whole, large ones by a slice of the GUID key
space; fewer than half the expected rows is a loss, a little shrinkage is not; too few expected: no verdict."""

from __future__ import annotations

import random
import uuid

from shared.domain.storage_check import MIN_EXPECTED, estimated_rows, sample_for, storage_lost


def test_too_few_expected_users_are_not_judged() -> None:
    assert sample_for(-1) is None and sample_for(MIN_EXPECTED - 1) is None


def test_small_copies_are_counted_whole() -> None:
    sample = sample_for(150)
    assert sample is not None and sample.upper_key is None and sample.fraction == 1.0
    assert storage_lost(sample, 74) and not storage_lost(sample, 75) and not storage_lost(sample, 160)
    assert estimated_rows(sample, 74) == 74


def test_large_copies_are_judged_on_a_slice_of_guids() -> None:
    rng = random.Random(7)
    ids = sorted(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50_000))
    sample = sample_for(50_000)
    assert sample is not None and sample.upper_key is not None and len(sample.upper_key) == 8
    whole = sum(uid < sample.upper_key for uid in ids)
    assert 70 <= whole <= 130 and not storage_lost(sample, whole)
    assert 40_000 <= estimated_rows(sample, whole) <= 60_000
    old_copy = ids[::3]  # a third of the rows: restored from an old copy
    assert storage_lost(sample, sum(uid < sample.upper_key for uid in old_copy))
    assert storage_lost(sample, 0)
