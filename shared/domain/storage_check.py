"""Is the directory copy far smaller than the sync cursor says (storage emptied, or restored from an old copy)?
Pure: which rows to count, and the verdict. The cursor keeps about how many user rows the connection has."""

from __future__ import annotations

from dataclasses import dataclass

MIN_EXPECTED = 20  # fewer expected users: not checked (a handful of rows says little)
SAMPLE_ROWS = 100  # about this many rows are read to judge a large copy
LOSS_RATIO = 0.5  # fewer than half of the expected rows: storage was lost
KEY_SPACE = 16**8  # user ids are GUIDs: their first 8 hex digits are uniformly spread


@dataclass(frozen=True)
class Sample:
    """Count the user rows whose id sorts below `upper_key` (None: every row), a `fraction` of the key space."""

    expected: int
    upper_key: str | None
    fraction: float


def sample_for(expected_users: int) -> Sample | None:
    """None when there is too little to judge. Up to 2 x SAMPLE_ROWS expected rows are counted one by one; above,
    only the ids in the first SAMPLE_ROWS / expected of the key space (one short range query, whatever the size)."""
    if expected_users < MIN_EXPECTED:
        return None
    if expected_users <= 2 * SAMPLE_ROWS:
        return Sample(expected_users, None, 1.0)
    bound = max(1, KEY_SPACE * SAMPLE_ROWS // expected_users)
    return Sample(expected_users, f"{bound:08x}", bound / KEY_SPACE)


def estimated_rows(sample: Sample, counted: int) -> int:
    return round(counted / sample.fraction)


def storage_lost(sample: Sample, counted: int) -> bool:
    """Fewer than half of the rows the cursor expects. A healthy large copy gives ~100 +- 10 rows in the slice, a
    halved one ~50: far apart, so neither is taken for the other."""
    return counted < sample.expected * sample.fraction * LOSS_RATIO
