"""The on-prem AD agents on the console, rendered from literal data: the agents list (name, host, registered, last
contact, online / offline), Remove confirmed by the agent's name, sync and rotation through the agent, the jobs
and the AD runs in the run history; a Reader sees the list and no action; a new code's page shows the code once
with the exact command; agents' names and hosts are text."""

from __future__ import annotations

from typing import Any

from shared.console.render_agents import code_page, command, job_label
from shared.console.render_connection import connection_page
from shared.console.render_tables import runs_page
from tests.unit.test_console_render import (
    ADMIN,
    CID,
    EVIL,
    READER,
    STATUS,
    VIEW,
    _buttons,
    _forms,
    assert_no_injected_markup,
    parse,
)

AGENT_A = "a" * 32
AGENT_B = "b" * 32
AGENTS = [
    {
        "id": AGENT_A,
        "name": "dc-site-a-1",
        "host": "srv-a.corp.example.com",
        "version": "0.1.0",
        "status": "online",
        "registered_at": "2026-12-01T09:00:00Z",
        "last_seen": "2026-12-01T10:01:00Z",
    },
    {
        "id": AGENT_B,
        "name": f"dc {EVIL}",
        "host": EVIL,
        "version": "0.1.0",
        "status": "offline",
        "registered_at": "2026-11-30T09:00:00Z",
        "last_seen": "2026-11-30T18:30:00Z",
    },
]


def job(**fields: Any) -> dict[str, Any]:
    base = {"id": "1764583200000-aaaaaaaaaaaa", "kind": "sync", "state": "queued", "run_id": "run-q", "mode":
            "incremental", "dry_run": False, "users": 0, "agent": "", "attempts": 0, "outcome": None,
            "error_code": None, "created_at": "2026-12-01T10:00:00Z", "done_at": None}  # fmt: skip
    return {**base, **fields}


JOBS = [
    job(),
    job(id="2", state="running", agent="dc-site-a-1", run_id="run-r", mode="full"),
    job(id="3", state="stalled", agent=f"dc {EVIL}", run_id="run-s"),
    job(
        id="4",
        state="done",
        outcome="succeeded",
        agent="dc-site-a-1",
        run_id="run-done",
        done_at="2026-12-01T09:30:00Z",
    ),
    job(id="5", state="done", outcome="failed", error_code="agent_attempts_exhausted", run_id="run-x"),
    job(id="6", kind="rotate", state="done", outcome="succeeded", users=3, agent="dc-site-a-1", run_id="rot-1"),
]
AD_VIEW = {**VIEW, "source": "ad", "domain": "corp.example.com", "tenant_id": "", "tenant_domain": "",
           "credential_mode": "agent", "credential": {"set": False}}  # fmt: skip
MODEL = {"view": AD_VIEW, "status": STATUS, "progress": None, "held": {}, "agents": {"agents": AGENTS, "jobs": JOBS}}
AGENTS_PATH = f"/api/console/connections/{CID}/agents"


def section_of(page: str) -> str:
    start = page.index('<section class="ad-agents" id="agents">')
    return page[start : page.index("</section>", start)]


def test_the_agents_list_shows_name_host_times_and_online_state() -> None:
    page = connection_page(ADMIN, MODEL)
    section = section_of(page)
    assert "On-premises AD agents" in section
    for header in ("Name", "Host", "Version", "Registered", "Last contact", "Status", "Remove"):
        assert f">{header}</th>" in section
    assert "dc-site-a-1" in section and "srv-a.corp.example.com" in section
    assert "2026-12-01 09:00 UTC" in section and "2026-12-01 10:01 UTC" in section
    assert '<span class="badge ok">online</span>' in section and '<span class="badge warn">offline</span>' in section
    assert_no_injected_markup(page)
    assert f"dc {EVIL}" in "".join(parse(page).text)  # the agent's name and host show as text


def test_each_agent_has_a_remove_form_confirmed_by_its_name() -> None:
    page = connection_page(ADMIN, MODEL)
    forms = {str(a["action"]) for a in _forms(page)}
    assert {f"{AGENTS_PATH}/{AGENT_A}/remove", f"{AGENTS_PATH}/{AGENT_B}/remove"} <= forms
    inputs = [a for t, a in parse(page).tags if t == "input" and a.get("name") == "confirm_name"]
    assert {a["id"] for a in inputs} >= {f"confirm-{AGENT_A}", f"confirm-{AGENT_B}"}
    assert all("required" in a for a in inputs) and "Type dc-site-a-1 to remove" in page


def test_sync_dry_run_rotation_and_a_code_through_the_agent_each_a_form_with_the_csrf_token() -> None:
    page = connection_page(ADMIN, MODEL)
    section = section_of(page)
    forms = [a["action"] for a in _forms(section)]
    assert forms.count(f"{AGENTS_PATH}/sync") == 3
    assert f"{AGENTS_PATH}/codes" in forms and f"{AGENTS_PATH}/rotate" in forms
    for text in ("Sync through the agent", "Full sync through the agent", "Dry run through the agent",
                 "Rotate passwords through the agent", "Make a registration code"):  # fmt: skip
        assert f">{text}</button>" in section
    dry = [a for t, a in parse(section).tags if t == "input" and a.get("name") == "dry_run"]
    assert dry == [{"type": "hidden", "name": "dry_run", "value": "yes"}]
    confirm = next(a for t, a in parse(section).tags if t == "input" and a.get("name") == "confirm_rotation")
    assert "required" in confirm  # rotation asks the box to be ticked (the server checks it again)
    tokens = [a for t, a in parse(section).tags if t == "input" and a.get("name") == "csrf"]
    assert len(tokens) == len(forms) and {t["value"] for t in tokens} == {ADMIN.csrf}


def test_without_agents_only_the_code_can_be_made() -> None:
    page = connection_page(ADMIN, {**MODEL, "agents": {"agents": [], "jobs": []}})
    section = section_of(page)
    assert "No agent registered yet." in section
    assert [a["action"] for a in _forms(section)] == [f"{AGENTS_PATH}/codes"]


def test_jobs_show_queued_running_stalled_and_done_with_a_refresh_link() -> None:
    section = section_of(connection_page(ADMIN, MODEL))
    assert '<span class="badge idle">queued</span>' in section
    assert '<span class="badge info">running</span> on dc-site-a-1' in section
    assert '<span class="badge warn">stalled</span>' in section and "another agent takes it over" in section
    assert '<span class="badge ok">succeeded</span> by dc-site-a-1' in section
    assert "agent_attempts_exhausted" in section and "Password rotation, 3 user(s)" in section
    assert "AD sync, full" in section and f'href="/api/console/connections/{CID}#agents">Refresh</a>' in section
    assert job_label(job(dry_run=True)) == "AD sync, incremental (dry run)"
    done = [j for j in JOBS if j["state"] == "done"]
    assert "Refresh" not in section_of(connection_page(ADMIN, {**MODEL, "agents": {"agents": AGENTS, "jobs": done}}))


def test_a_reader_sees_the_agents_and_no_button_or_form() -> None:
    page = connection_page(READER, MODEL)
    section = section_of(page)
    assert "dc-site-a-1" in section and "srv-a.corp.example.com" in section and ">Remove</th>" not in section
    assert _forms(page) == [] and _buttons(page) == 0 and page.count(READER.csrf) == 1


def test_a_purging_connection_has_no_agents_section() -> None:
    page = connection_page(ADMIN, {"view": AD_VIEW, "status": {}, "progress": None, "held": {}})
    assert 'id="agents"' not in page


def test_the_run_history_shows_ad_runs_in_progress_and_names_the_agent_of_a_finished_one() -> None:
    runs = [
        {"run_id": "run-done", "mode": "incremental", "trigger": "manual", "outcome": "succeeded",
         "started_at": "2026-12-01T09:29:00Z", "ended_at": "2026-12-01T09:30:00Z", "counts": {"users.created": 3}},
        {"run_id": "entra-1", "mode": "full", "trigger": "schedule", "outcome": "failed", "error_code": "x",
         "started_at": "2026-11-30T01:00:00Z", "ended_at": "2026-11-30T01:01:00Z", "counts": {}},
    ]  # fmt: skip
    page = runs_page(ADMIN, AD_VIEW, runs, JOBS)
    rows = page[page.index("<tbody>") :]
    assert rows.index("queued") < rows.index("running") < rows.index("stalled") < rows.index("2026-12-01 09:29 UTC")
    assert "incremental (manual) through agent dc-site-a-1" in rows and "full (schedule)</td>" in rows
    assert "agent_attempts_exhausted" in rows  # a job leased too often records no run: the job row says it
    assert "Password rotation" not in rows  # rotations are not sync runs
    assert f'href="/api/console/connections/{CID}/runs">Refresh</a>' in page
    assert_no_injected_markup(page)
    assert "Refresh" not in runs_page(ADMIN, AD_VIEW, runs, [j for j in JOBS if j["id"] == "4"])


def test_a_new_code_is_shown_once_with_the_exact_command_and_its_expiry() -> None:
    code = "adreg_" + "C0de-_" * 8
    answer = {"code": code, "connection_id": CID, "expires_at": "2026-12-01T11:00:00Z"}
    page = code_page(ADMIN, AD_VIEW, answer, "https://connector.example.net")
    values = {a.get("id"): a.get("value") for t, a in parse(page).tags if t == "input"}
    assert values["agent-code"] == code
    boxes = {a["id"] for t, a in parse(page).tags if t == "textarea" and "readonly" in a}
    assert boxes == {"agent-command", "agent-command-windows"}
    linux = f"python -m agent --config /etc/connector-agent/agent.json register --code {code}"
    assert f">{linux}</textarea>" in page and command(code, r"C:\ProgramData\ConnectorAgent\agent.json") in page
    assert "valid until 2026-12-01 11:00 UTC" in page and "shown only now" in page
    assert "https://connector.example.net" in page and _forms(page) == []
    assert_no_injected_markup(page)


def test_an_ad_connection_shows_its_domain_and_leaves_sync_to_the_agents_section() -> None:
    page = connection_page(ADMIN, MODEL)
    assert "<dt>Domain</dt><dd>corp.example.com (on-premises Active Directory)</dd>" in page
    assert "password stays on the agent" in page and "Key Vault" not in page
    actions = [a["action"] for a in _forms(page)]
    base = f"/api/console/connections/{CID}"
    assert f"{base}/verify" in actions and f"{base}/sync" not in actions and f"{base}/dry-run" not in actions
    assert f"{base}/consent" not in actions and f"{base}/invitations" not in actions


def test_an_entra_connection_has_no_agents_section() -> None:
    entra = {**MODEL, "view": {**VIEW, "source": "entra"}}
    page = connection_page(ADMIN, entra)
    assert 'id="agents"' not in page and "On-premises AD agents" not in page
    assert f"/api/console/connections/{CID}/sync" in page  # Entra's own Sync now
