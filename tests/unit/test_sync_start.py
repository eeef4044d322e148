"""The early reads' decision (shared/services/sync_start.py): literal cursors in, kept or dropped out."""

from __future__ import annotations

import pytest

from shared.adapters.sync_state import Cursor
from shared.services import sync_start
from shared.services.sync_start import CursorMemo, Remembered, early_kept

CURSOR = Cursor(
    users_delta="https://g/users/delta?$deltatoken=u1", groups_delta="https://g/groups/delta?t=g1", users_stored=870
)
BASIS = Remembered.of(CURSOR)


@pytest.mark.parametrize(
    ("basis", "cursor", "resumed", "mode", "kept"),
    [
        (BASIS, CURSOR, False, "incremental", True),  # the cursor this process committed: the early reads are the run's
        (None, CURSOR, False, "incremental", False),  # nothing remembered (a new worker, or a run that failed)
        (
            BASIS,
            Cursor(
                users_delta="https://g/users/delta?$deltatoken=u2", groups_delta=CURSOR.groups_delta, users_stored=870
            ),
            False,
            "incremental",
            False,
        ),  # another instance committed since
        (
            BASIS,
            Cursor(users_delta=CURSOR.users_delta, groups_delta="https://g/groups/delta?t=g2", users_stored=870),
            False,
            "incremental",
            False,
        ),
        (
            BASIS,
            Cursor(users_delta=CURSOR.users_delta, groups_delta=CURSOR.groups_delta, users_stored=871),
            False,
            "incremental",
            False,
        ),  # the storage check's sample depends on the row count
        (BASIS, CURSOR, True, "incremental", False),  # a checkpoint waits: the run resumes from it
        (BASIS, CURSOR, False, "full", False),  # the run turned full (links near expiry, new sync group)
        (BASIS, CURSOR, False, "groups", False),
    ],
)
def test_early_reads_are_kept_only_for_a_new_incremental_run_from_the_remembered_cursor(
    basis: Remembered | None, cursor: Cursor, resumed: bool, mode: str, kept: bool
) -> None:
    assert early_kept(basis, cursor, resumed=resumed, mode=mode) is kept


def test_the_memo_remembers_forgets_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = CursorMemo()
    memo.remember("c1", CURSOR)
    assert memo.get("c1") == BASIS and memo.get("c2") is None
    memo.forget("c1")
    assert memo.get("c1") is None
    monkeypatch.setattr(sync_start, "MEMO_LIMIT", 3)
    for n in range(3):
        memo.remember(f"c{n}", CURSOR)
    memo.remember("c0", CURSOR)  # one already remembered: nothing is dropped
    assert all(memo.get(f"c{n}") for n in range(3))
    memo.remember("c9", CURSOR)  # one more than the limit: it starts again from this one
    assert memo.get("c9") == BASIS and memo.get("c0") is None


async def test_a_worker_keeps_one_memo_per_storage_account_for_every_invocation() -> None:
    from shared.client_pool import ClientPool
    from shared.composition import Container
    from shared.config import load_settings

    base = {"KEY_VAULT_URL": "https://kv-1.vault.azure.net", "PUBLIC_BASE_URL": "https://func-1.azurewebsites.net"}
    one, two = (
        {
            **base,
            "AzureWebJobsStorage__tableServiceUri": f"https://{account}.table.core.windows.net",
            "AzureWebJobsStorage__queueServiceUri": f"https://{account}.queue.core.windows.net",
        }
        for account in ("st1", "st2")
    )
    pool = ClientPool()
    memo = Container(load_settings(one), pool=pool).cursor_memo()
    assert isinstance(memo, CursorMemo)
    assert Container(load_settings(one), pool=pool).cursor_memo() is memo  # the next invocation's container
    assert Container(load_settings(two), pool=pool).cursor_memo() is not memo
    await pool.close()
