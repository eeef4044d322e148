"""Sending the scheduler's due jobs: each job message first, then the slot markers of the sent ones, 100 to a
transaction in the scheduler's one partition. Many due connections at once (thousands of tenants on one daily
slot) are fanned out: the tick sends one `sync-fanout` message per FANOUT_CHUNK connections and the fan-out queue
worker sends their jobs and writes their markers, so one tick costs a few requests however many are due, and the
sends spread over the host's instances. Whoever sends a job writes its marker afterwards: a fan-out message that
is lost or fails leaves its connections unmarked and the next tick sends them again (nothing is lost; a job sent
twice is turned away by the sync lease or finds nothing to do)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared import storage_names as names
from shared.errors import ConnectorError, ValidationError

log = logging.getLogger(__name__)
SEND_CONCURRENCY = 16  # job messages sent side by side
FANOUT_AT = 100  # more due connections than this in one tick: fanned out
FANOUT_CHUNK = 100  # due connections per fan-out message (~8 KB; a queue message holds 64 KB)
REASONS = ("schedule", "token_refresh")


@dataclass(frozen=True)
class Due:
    """One due connection: why (the job's trigger) and the slot its marker records (ISO 8601)."""

    connection_id: str
    reason: str
    slot: str

    def job(self) -> dict[str, Any]:
        return {"connection_id": self.connection_id, "mode": "incremental", "trigger": self.reason}

    def marker(self) -> dict[str, Any]:
        return {"PartitionKey": names.SCHEDULER_SLOTS, "RowKey": self.connection_id, "last_slot": self.slot}


def chunks(due: list[Due], size: int = FANOUT_CHUNK) -> list[list[Due]]:
    return [due[start : start + size] for start in range(0, len(due), size)]


def fanout_message(due: list[Due]) -> dict[str, Any]:
    return {"due": [[d.connection_id, d.reason, d.slot] for d in due]}


def parse_fanout(body: Any) -> list[Due]:
    """The connections of a fan-out message; a malformed one is a ValidationError naming the problem."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            raise ValidationError({"body": "a fan-out message is JSON"}) from None
    entries = body.get("due") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries or len(entries) > FANOUT_CHUNK:
        raise ValidationError({"due": f"must be a list of 1..{FANOUT_CHUNK} [connection id, reason, slot]"})
    due: list[Due] = []
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 3 and all(isinstance(v, str) and v for v in entry)):
            raise ValidationError({"due": "each entry is [connection id, reason, slot], three non-empty strings"})
        if entry[1] not in REASONS:
            raise ValidationError({"due": f"a reason is one of {', '.join(REASONS)}"})
        due.append(Due(*entry))
    return due


async def send(
    tables: Any, queues: Any, due: list[Due], *, start: Callable[[str, str], Awaitable[Any]] | None = None
) -> list[Due]:
    """Send the jobs (SEND_CONCURRENCY at a time; `start(connection id, reason)` instead of a queue message: an AD
    connection's agent job), then the sent ones' markers. Returns the sent ones. A connection whose send fails is
    logged (an unexpected error also recorded on it) and the others are still sent."""
    from shared.services import incidents

    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(item: Due) -> Due | None:
        async with limit:
            try:
                if start is not None:
                    await start(item.connection_id, item.reason)
                else:
                    await queues.send(names.SYNC_JOBS, item.job())
                return item
            except ConnectorError as exc:
                log.warning("sync scheduler: connection %s skipped this tick: %s", item.connection_id, exc.code)
            except Exception as exc:  # noqa: BLE001 (one connection's failure must not stop everyone's schedule)
                await incidents.record(tables, "sync_scheduler", exc, connection_id=item.connection_id)
            return None

    sent = [item for item in await asyncio.gather(*(one(item) for item in due)) if item is not None]
    try:
        await tables.write_many(names.SYNC_STATE, upserts=[item.marker() for item in sent])
    except Exception as exc:  # noqa: BLE001 (the jobs are sent: without markers the next tick sends them again)
        await incidents.record(tables, "sync_scheduler", exc)
    return sent


async def fan_out(tables: Any, queues: Any, due: list[Due]) -> list[Due]:
    """The tick's side: one fan-out message per chunk. Returns the connections whose message was sent."""
    from shared.services import incidents

    limit = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(chunk: list[Due]) -> list[Due]:
        async with limit:
            try:
                await queues.send(names.SYNC_FANOUT, fanout_message(chunk))
                return chunk
            except Exception as exc:  # noqa: BLE001 (unmarked: the next tick tries these again)
                await incidents.record(tables, "sync_scheduler", exc)
                return []

    return [item for sent in await asyncio.gather(*(one(chunk) for chunk in chunks(due))) for item in sent]


async def run_fanout(container: Any, body: Any) -> int:
    """The fan-out queue worker: send one message's jobs and write their markers. A malformed message is logged
    and dropped (retrying it cannot help). Returns the jobs sent."""
    try:
        due = parse_fanout(body)
    except ValidationError as exc:
        log.warning("sync fan-out message dropped: %s", exc.message)
        return 0
    return len(await send(container.tables(), container.queues(), due))
