"""The agent protocol's pure rules: both sides sign the same bytes; which job a poll may lease; replay window."""

from __future__ import annotations

from agent import protocol as agent_side
from shared.domain import agent_protocol as service_side
from shared.domain.agent_protocol import LEASE_S, MAX_ATTEMPTS, JobState, agent_status, exhausted, pick_job

NOW = 1_800_000_000.0


def test_agent_and_service_sign_the_same_bytes() -> None:
    args = ("post", "/api/agent/poll?wait=20", "a" * 32, "1800000000", "n" * 24, b'{"x": 1}')
    assert agent_side.signing_input(*args) == service_side.signing_input(*args)
    assert agent_side.HEADER_SIGNATURE == service_side.HEADER_SIGNATURE
    assert service_side.signing_input(*args[:-1], b'{"x": 2}') != service_side.signing_input(*args)


def test_a_poll_leases_queued_jobs_and_jobs_whose_lease_ran_out_oldest_first() -> None:
    jobs = [
        JobState("0000000000002-b", "queued", "", 0, 0),
        JobState("0000000000001-a", "leased", "agent-a", NOW + 5, 1),  # alive: not taken
        JobState("0000000000003-c", "leased", "agent-a", NOW - 1, 1),  # its agent stopped heartbeating
        JobState("0000000000000-d", "done", "agent-a", NOW - 100, 1),
        JobState("0000000000004-e", "queued", "", 0, MAX_ATTEMPTS),  # exhausted
    ]
    assert [j.id for j in pick_job(jobs, NOW)] == ["0000000000002-b", "0000000000003-c"]
    assert exhausted(jobs[4], NOW) and not exhausted(jobs[1], NOW)


def test_the_replay_window_and_the_online_state() -> None:
    assert service_side.timestamp_problem(str(int(NOW)), NOW) is None
    assert "away" in (service_side.timestamp_problem(str(int(NOW - 301)), NOW) or "")
    assert service_side.timestamp_problem("12ab", NOW)
    assert agent_status({"state": "active", "last_seen": NOW - 60}, NOW) == "online"
    assert agent_status({"state": "active", "last_seen": NOW - 121}, NOW) == "offline"
    assert agent_status({"state": "removed", "last_seen": NOW}, NOW) == "removed"
    assert LEASE_S < 120


def test_a_sealed_password_opens_only_with_the_agents_key_for_that_job_and_user() -> None:
    import pytest

    from agent.errors import AgentError
    from agent.keys import new_keys, public_b64
    from agent.seal import open_sealed
    from shared.services.agent_seal import seal

    _, mine = new_keys()
    _, other = new_keys()
    box = seal(public_b64(mine), "S3cret-Pass-word!", "job|user|v1")
    assert "S3cret" not in box
    assert open_sealed(mine, box, "job|user|v1") == "S3cret-Pass-word!"
    for key, aad in ((other, "job|user|v1"), (mine, "job|other-user|v1")):
        with pytest.raises(AgentError, match="does not open"):
            open_sealed(key, box, aad)
