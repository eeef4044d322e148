"""The on-prem agent protocol, pure: what a signed request signs, the replay window, registration codes, which job
a polling agent may lease, and an agent's online state. agent/protocol.py builds the same bytes (a test compares)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

HEADER_AGENT = "X-Agent-Id"
HEADER_TIME = "X-Agent-Timestamp"
HEADER_NONCE = "X-Agent-Nonce"
HEADER_SIGNATURE = "X-Agent-Signature"
SIGNATURE_VERSION = "agent-v1"
CLOCK_SKEW_S = 300  # a signed request older or newer than this is refused; its nonce is remembered this long
LEASE_S = 60  # a leased job is the agent's for this long after its last heartbeat
OFFLINE_AFTER_S = 120  # no poll or heartbeat for this long: the agent shows as offline (Okta's AD agent: 120 s)
MAX_WAIT_S = 25  # long-poll: at most this long per poll request
CODE_TTL_S = 3600
MAX_CODE_TTL_S = 7 * 24 * 3600
MAX_ATTEMPTS = 5  # a job leased this often without a result fails (each lease loss is an attempt)
AGENT_ID = re.compile(r"^[0-9a-f]{32}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CODE = re.compile(r"^adreg_[A-Za-z0-9_-]{32,64}$")
JOB_ID = re.compile(r"^[0-9]{13}-[0-9a-f]{12}$")
KEY_B64 = re.compile(r"^[A-Za-z0-9_-]{43}=?$")  # 32 raw bytes, base64url (Ed25519 and X25519 public keys)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signing_input(method: str, path: str, agent_id: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes an agent signs: method, path with query, who, when, a one-time nonce, the body's hash."""
    lines = [SIGNATURE_VERSION, method.upper(), path, agent_id, timestamp, nonce, body_digest(body)]
    return "\n".join(lines).encode()


def code_hash(code: str) -> str:
    """Registration codes are stored as this hash only: the table never holds a usable code."""
    return hashlib.sha256(code.encode()).hexdigest()


def timestamp_problem(timestamp: str, now: float) -> str | None:
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "the timestamp is not whole Unix seconds"
    if abs(int(timestamp) - now) > CLOCK_SKEW_S:
        return f"the timestamp is more than {CLOCK_SKEW_S} s away from the service's clock"
    return None


@dataclass(frozen=True)
class JobState:
    """What the lease decision needs of one job row."""

    id: str
    state: str  # queued | leased | done
    lease_agent: str
    lease_until: float
    attempts: int


def leasable(job: JobState, now: float) -> bool:
    """A queued job, or a leased one whose agent stopped heartbeating (its lease ran out)."""
    if job.attempts >= MAX_ATTEMPTS:
        return False
    return job.state == "queued" or (job.state == "leased" and job.lease_until <= now)


def pick_job(jobs: list[JobState], now: float) -> list[JobState]:
    """The jobs a polling agent may try to lease, oldest first (ids sort by creation time)."""
    return sorted((job for job in jobs if leasable(job, now)), key=lambda job: job.id)


def exhausted(job: JobState, now: float) -> bool:
    """Leased too often without a result and not held by a live lease: the job fails instead of looping."""
    return job.state != "done" and job.attempts >= MAX_ATTEMPTS and (job.state == "queued" or job.lease_until <= now)


def agent_status(row: dict[str, Any], now: float) -> str:
    if row.get("state") != "active":
        return str(row.get("state") or "removed")
    last = float(row.get("last_seen") or 0)
    return "online" if now - last <= OFFLINE_AFTER_S else "offline"
