"""The admin's password-rotation surface: "rotate now" (a connection or one user, audited with who and the outcome)
and what an admin sees: per user the last rotation, the next due date, the last outcome or skip reason and whether a
version is pending; never a password (nor a Key Vault version id)."""

from __future__ import annotations

from typing import Any

from shared import storage_names as names
from shared.adapters.connection_store import load_connection
from shared.domain import rotation as rules
from shared.errors import ConnectorError, ValidationError
from shared.services import audit
from shared.services.password_rotation import rotation_status, run_rotation

MAX_PAGE = 1000
SKIPPED = "skipped"


def _user(row: Any) -> dict[str, Any]:
    result = str(row.get("last_result") or "") or None
    reason = str(row.get("last_reason") or "") or None
    return {
        "user_id": str(row["RowKey"]),
        "last_rotated_at": row.get("last_rotated_at") or None,
        "next_due_at": row.get("next_due_at") or None,
        "last_attempt_at": row.get("last_attempt_at") or None,
        "last_outcome": result or ("in_progress" if row.get("lock_owner") else None),
        "skip_reason": reason if result == SKIPPED else None,
        "last_reason": reason,
        "pending": bool(row.get("pending_version")) or bool(row.get("needs_resolution")),
    }


async def user_status(
    container: Any, connection_id: str, top: int = 100, continuation: str | None = None
) -> dict[str, Any]:
    """The connection's rotation state and one page of its users (those any run has looked at), by user id."""
    if not 1 <= top <= MAX_PAGE:
        raise ValidationError({"top": f"must be between 1 and {MAX_PAGE}"})
    tables = container.tables()
    connection = await load_connection(tables, connection_id)
    page = await tables.query_page(
        names.ROTATION_STATE, "PartitionKey eq @pk", {"pk": connection.id}, continuation=continuation, page_size=top
    )
    return {
        "connection_id": connection.id,
        "rotation_enabled": connection.rotation_enabled,
        "rotation_group_id": connection.rotation_group_id,
        "interval_days": connection.rotation_interval_days,
        "state": await rotation_status(tables, connection.id),
        "users": [_user(row) for row in page.items],
        "continuation": page.continuation,
    }


async def rotate_now(
    container: Any, connection_id: str, *, all: bool = False, user_id: str | None = None
) -> rules.RotationReport:
    """An admin's "rotate now" (HTTP, CLI): one user (who must be in the rotation set: NotFound otherwise, nothing
    touched) or the connection's due users (`all`: everyone in the set). Audited with its outcome."""
    action, detail = ("rotation.user", f"user {user_id}") if user_id else ("rotation.run", f"all={all}")
    try:
        report = await run_rotation(container, connection_id, all=all, user_id=user_id, must_hold=user_id is not None)
    except ConnectorError as exc:
        if exc.http_status >= 500:  # it ran and failed (or its outcome is unknown): that is worth a row
            await audit.record(container.tables(), action, connection_id, exc.code, detail)
        raise  # refused (unknown user, rotation off ...): nothing was done, nothing is written
    counts = {
        k: len(v)
        for k, v in (
            ("rotated", report.rotated),
            ("resolved", report.resolved),
            ("pending", report.pending),
            ("skipped", report.skipped),
            ("failed", report.failed),
        )
    }
    outcome = "blocked" if report.blocked else "failed" if report.failed else "ok"
    summary = ", ".join(f"{k} {n}" for k, n in counts.items())
    await audit.record(container.tables(), action, report.connection_id, outcome, f"{detail}: {summary}")
    return report
