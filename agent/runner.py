"""The agent's work loop: poll (long-poll) for a job, keep its lease with heartbeats while it runs, post the
result. A job whose lease is lost is abandoned: the agent that holds it now finishes it."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.client import ServiceClient
from agent.errors import AgentError
from agent.keys import AgentIdentity

log = logging.getLogger("agent")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Heartbeat:
    """Extends the lease every third of its length until stopped; `lost` once the service says another agent has
    the job."""

    client: ServiceClient
    identity: AgentIdentity
    job_id: str
    every_s: float
    lost: bool = False

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not self.client.heartbeat(self.identity, self.job_id):
                    self.lost = True
                    return
            except Exception as exc:  # noqa: BLE001 (a missed heartbeat is retried; the lease covers 3 of them)
                log.warning("heartbeat for job %s failed: %s", self.job_id, type(exc).__name__)


def run_job(handlers: dict[str, Handler], job: dict[str, Any]) -> dict[str, Any]:
    """The result body for a job: succeeded with the handler's result, or failed with the agent error's code."""
    handler = handlers.get(str(job.get("kind")))
    if handler is None:
        return {"outcome": "failed", "error": {"code": "unknown_job_kind", "message": f"kind {job.get('kind')}"}}
    try:
        return {"outcome": "succeeded", "result": handler({**dict(job.get("payload") or {}), "job_id": job["id"]})}
    except AgentError as exc:
        return {"outcome": "failed", "error": {"code": exc.code, "message": exc.message}}


def post_result(
    client: ServiceClient, identity: AgentIdentity, job_id: str, body: dict[str, Any], part_bytes: int
) -> bool:
    """Post the job's answer: in one body, or, when its JSON is larger than `part_bytes`, in parts of that size
    followed by the final result naming the count and the whole's SHA-256. False when the lease is lost."""
    if body["outcome"] == "succeeded":
        raw = json.dumps(body["result"]).encode()
        if len(raw) > part_bytes:
            chunks = [raw[at : at + part_bytes] for at in range(0, len(raw), part_bytes)]
            for index, chunk in enumerate(chunks):
                if not client.result_part(identity, job_id, index, chunk):
                    return False
            log.info("job %s: answer sent in %d parts (%d bytes)", job_id, len(chunks), len(raw))
            manifest = {"count": len(chunks), "sha256": hashlib.sha256(raw).hexdigest()}
            body = {"outcome": "succeeded", "parts": manifest}
    return client.result(identity, job_id, body)


def work_once(
    client: ServiceClient,
    identity: AgentIdentity,
    handlers: dict[str, Handler],
    wait_s: int = 20,
    *,
    part_bytes: int = 256 * 1024,
    pause_after_lease_s: float = 0.0,
    pause_before_result_s: float = 0.0,
) -> str | None:
    """Poll once; run and report the job if one came. Returns the job id (None: nothing to do). The pauses are
    the tests' way to hold a job at a known step (a process killed while it holds the lease); both are 0 in use."""
    job = client.poll(identity, wait_s)
    if job is None:
        return None
    job_id = str(job["id"])
    log.info("job %s (%s, attempt %s) leased", job_id, job.get("kind"), job.get("attempt"))
    with Heartbeat(client, identity, job_id, every_s=max(1.0, float(job.get("lease_seconds", 60)) / 3)) as beat:
        if pause_after_lease_s > 0:
            log.info("job %s: pausing %.0f s after the lease (test setting)", job_id, pause_after_lease_s)
            threading.Event().wait(pause_after_lease_s)
        body = run_job(handlers, job)
        if pause_before_result_s > 0:
            log.info("job %s: %s, pausing %.0f s before the answer (test setting)", job_id, body["outcome"],
                     pause_before_result_s)  # fmt: skip
            threading.Event().wait(pause_before_result_s)
        # posted while the heartbeat still runs: a large answer in many parts may take longer than one lease
        posted = not beat.lost and post_result(client, identity, job_id, body, part_bytes)
    if not posted:
        log.warning("job %s was taken over by another agent: its result is dropped", job_id)
    else:
        log.info("job %s %s", job_id, body["outcome"])
    return job_id
