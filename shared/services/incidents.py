"""Failures at the edges (HTTP triggers, queue workers, timers) that would otherwise end the invocation: logged with
the connection and run ids, recorded on the connection (`last_error`) and in the audit trail. An unexpected exception
becomes InternalError, which keeps its type and code locations only, never its message (it could hold a secret)."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.domain.connection import PARTITION
from shared.domain.timestamps import to_iso, utc_now
from shared.errors import ConcurrencyConflict, ConnectorError, InternalError
from shared.services import audit
from shared.storage_names import CONNECTIONS

log = logging.getLogger(__name__)
T = TypeVar("T")
FRAMES = 12  # innermost code locations logged with an unexpected error


def connection_id_in(body: bytes | str) -> str | None:
    """The connection id of a queued job's JSON body, or None when the message is malformed."""
    try:
        value = json.loads(body).get("connection_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def as_connector_error(where: str, exc: BaseException) -> ConnectorError:
    return exc if isinstance(exc, ConnectorError) else InternalError(where, exc)


def _frames(exc: BaseException) -> str:
    """Where it happened (file, line, function, source line): no exception message and no values."""
    return "".join(traceback.format_tb(exc.__traceback__)[-FRAMES:])


async def record(
    tables: Any | None,
    where: str,
    exc: BaseException,
    *,
    connection_id: str | None = None,
    run_id: str | None = None,
) -> ConnectorError:
    """Log the failure and record it (best effort: recording never raises). Returns the error to answer with."""
    error = as_connector_error(where, exc)
    ids = f"connection={connection_id or '-'} run={run_id or '-'}"
    if isinstance(error, InternalError):
        log.error("internal_error in %s (%s): %s at\n%s", where, ids, error.exception_type, _frames(exc))
    else:
        log.warning("%s in %s (%s): %s", error.code, where, ids, error.message)
    if tables is None:
        return error
    note = {"code": error.code, "where": where, "at": to_iso(utc_now()), "run_id": run_id or ""}
    if isinstance(error, InternalError):
        note["exception_type"] = error.exception_type
    else:
        note["message"] = error.message[:500]  # typed errors' messages never hold secrets
    try:
        if connection_id:
            await _note(tables, connection_id, note)
        detail = note.get("exception_type") or note.get("message", "")
        await audit.record(tables, f"{where}.failed", connection_id, error.code, f"{detail} run={run_id or '-'}")
    except Exception as failure:  # noqa: BLE001 (recording must never replace the failure it records)
        log.error("the failure in %s (%s) could not be recorded: %s", where, ids, type(failure).__name__)
    return error


async def _note(tables: Any, connection_id: str, note: dict[str, str]) -> None:
    """Merge `last_error` into the connection row alone (If-Match *: only an existing row; other columns kept)."""
    entity = {"PartitionKey": PARTITION, "RowKey": connection_id, "last_error_json": json.dumps(note, sort_keys=True)}
    try:
        await tables.update_if_match(CONNECTIONS, entity, "*", replace=False)
    except ConcurrencyConflict:
        return  # no such connection (deleted, or an id that never was one): the audit row still tells


async def record_now(where: str, exc: BaseException, *, connection_id: str | None = None) -> ConnectorError:
    """`record` from an edge that holds no container: opens one for the recording (or only logs when it cannot)."""
    from shared.composition import Container

    try:
        async with Container.from_env() as container:
            return await record(container.tables(), where, exc, connection_id=connection_id)
    except Exception:  # noqa: BLE001 (no settings or storage: the log is all there is)
        return await record(None, where, exc, connection_id=connection_id)


async def run_edge(where: str, work: Callable[[Any], Awaitable[T]], *, connection_id: str | None = None) -> T | None:
    """Run a queue worker's or timer's work with a fresh Container; any failure is recorded and the invocation
    ends normally (None), so the host neither retries the message into the poison queue nor loses the cause."""
    from shared.composition import Container

    try:
        async with Container.from_env() as container:
            try:
                return await work(container)
            except Exception as exc:  # noqa: BLE001 (the edge: typed or not, it is recorded, never thrown back)
                await record(container.tables(), where, exc, connection_id=connection_id)
                return None
    except Exception as exc:  # noqa: BLE001 (settings or clients failed: nothing can be recorded but the log)
        await record(None, where, exc, connection_id=connection_id)
        return None
