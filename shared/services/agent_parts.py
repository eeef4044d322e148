"""A large agent answer sent in parts: each part (raw bytes of the result's UTF-8 JSON) is kept in the `agents` table
as one row of binary pieces below the entity limits, bound to the agent and lease attempt that sent it; the final
result names the part count and the SHA-256 of the whole, and is assembled from exactly those parts (missing, foreign
or altered parts refused with the part named), applied once, and its parts removed."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from shared.errors import LeaseLost, ValidationError
from shared.storage_names import AGENTS

MAX_PART_BYTES = 512 * 1024  # one request's body; 9 binary properties of at most PIECE_BYTES: below 1 MiB an entity
PIECE_BYTES = 60_000  # one Edm.Binary property holds at most 64 KiB
MAX_PARTS = 2048  # 1 GiB of answer at the largest part size
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def parts_partition(connection_id: str, job_id: str) -> str:
    return f"parts_{connection_id}_{job_id}"


def _index(raw: str) -> int:
    if not raw.isdigit() or not 0 <= int(raw) < MAX_PARTS:
        raise ValidationError({"part": f"must be a whole number 0..{MAX_PARTS - 1}"})
    return int(raw)


def _check_lease(row: Any, agent: dict[str, Any]) -> None:
    if row["state"] != "leased" or row["lease_agent"] != agent["RowKey"]:
        raise LeaseLost("The job is no longer leased to this agent: its parts are not used")


async def put_part(container: Any, agent: dict[str, Any], job: Any, raw_index: str, body: bytes) -> tuple[int, Any]:
    """200 {part, bytes}: part n of the leased job's answer is stored (sending it again replaces it: idempotent)."""
    index = _index(raw_index)
    if not body:
        raise ValidationError({"body": "a part must not be empty"})
    if len(body) > MAX_PART_BYTES:
        raise ValidationError({"body": f"a part must be at most {MAX_PART_BYTES} bytes"})
    _check_lease(job, agent)
    pieces = {f"p{i:02d}": body[at : at + PIECE_BYTES] for i, at in enumerate(range(0, len(body), PIECE_BYTES))}
    entity = {
        "PartitionKey": parts_partition(str(agent["connection_id"]), str(job["RowKey"])),
        "RowKey": f"{index:05d}",
        "connection_id": agent["connection_id"],
        "agent_id": agent["RowKey"],
        "attempt": int(job.get("attempts") or 0),
        "pieces": len(pieces),
        "size": len(body),
        **pieces,
    }
    await container.tables().upsert(AGENTS, entity, replace=True)
    return 200, {"part": index, "bytes": len(body)}


def _manifest(parts: Any) -> tuple[int, str]:
    if not isinstance(parts, dict) or set(parts) != {"count", "sha256"}:
        raise ValidationError({"parts": "must be an object with `count` and `sha256`"})
    count, digest = parts["count"], parts["sha256"]
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_PARTS:
        raise ValidationError({"parts.count": f"must be 1..{MAX_PARTS}"})
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise ValidationError({"parts.sha256": "must be the lowercase hex SHA-256 of the whole answer"})
    return count, digest


async def assemble(container: Any, agent: dict[str, Any], job: Any, parts: Any) -> dict[str, Any]:
    """The answer the parts make, checked: every part 0..count-1 present, sent by this agent in its current lease,
    and their bytes hashing to the manifest's digest. Raises ValidationError naming what is wrong."""
    count, digest = _manifest(parts)
    partition = parts_partition(str(agent["connection_id"]), str(job["RowKey"]))
    query = container.tables().query(AGENTS, "PartitionKey eq @pk", {"pk": partition})
    rows = {int(r["RowKey"]): r async for r in query}
    missing = [n for n in range(count) if n not in rows]
    if missing:
        raise ValidationError({"parts": f"missing part(s) {', '.join(map(str, missing[:10]))} of {count}"})
    attempt = int(job.get("attempts") or 0)
    foreign = [n for n in range(count) if rows[n]["agent_id"] != agent["RowKey"] or int(rows[n]["attempt"]) != attempt]
    if foreign:
        raise ValidationError(
            {"parts": f"part(s) {', '.join(map(str, foreign[:10]))} belong to another agent's lease: send them again"}
        )
    whole = b"".join(bytes(rows[n][f"p{i:02d}"]) for n in range(count) for i in range(int(rows[n]["pieces"])))
    if hashlib.sha256(whole).hexdigest() != digest:
        raise ValidationError({"parts.sha256": "the parts do not hash to this digest: send them again"})
    try:
        result = json.loads(whole.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValidationError({"parts": "the assembled parts are not UTF-8 JSON"}) from None
    if not isinstance(result, dict):
        raise ValidationError({"result": "must be a JSON object"})
    return result


async def drop_parts(container: Any, connection_id: str, job_id: str) -> int:
    """Remove every part of a finished job (also parts of an earlier lease that were never used)."""
    tables = container.tables()
    partition = parts_partition(connection_id, job_id)
    keys = [(partition, str(r["RowKey"])) async for r in tables.query(AGENTS, "PartitionKey eq @pk", {"pk": partition})]
    return await tables.delete_many(AGENTS, keys) if keys else 0
