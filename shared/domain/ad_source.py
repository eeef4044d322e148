"""Connections whose source is on-prem AD: which Entra-only actions they refuse (and what to use instead), the state
their agents and runs put them in, what each state's remedy is, and the cloud-side "Test permissions" checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain.agent_protocol import OFFLINE_AFTER_S, agent_status
from shared.domain.connection import Connection
from shared.domain.verification import Check
from shared.errors import NotForAdSource, NotForEntraSource

NO_AGENT = "no_agent"
CREDENTIALS_MISSING = "ad_credentials_missing"
AGENT_DOCS = "docs/ad-agent.md"

# Entra-only action -> what an AD connection uses instead
INSTEAD: dict[str, str] = {
    "consent": "an AD connection has no consent: register an agent with a code from "
    "POST /api/connections/{id}/agents/codes",
    "verify": "POST /api/connections/{id}/verify answers the AD checks (agents, last contact, last run)",
    "graph_sync": "POST /api/connections/{id}/sync (or .../agents/sync) queues an AD sync for the agents",
    "rotation": "POST /api/connections/{id}/agents/rotate rotates AD passwords through the agent",
    "notifications": "AD has no change notifications: scheduled and on-demand AD syncs keep the copy current",
    "graph": "its agents read the domain (docs/ad-agent.md); its sync group is named by the AD group's objectGUID",
}
WHAT: dict[str, str] = {
    "consent": "Admin consent",
    "verify": "A Graph permissions test",
    "graph_sync": "A Graph sync",
    "rotation": "Graph password rotation",
    "notifications": "Graph change notifications",
    "graph": "Microsoft Graph",
}


def require_entra(connection: Connection, action: str) -> None:
    """NotForAdSource (409, nothing changed) when an Entra-only `action` is asked of an AD connection."""
    if connection.is_ad:
        raise NotForAdSource(
            f"{WHAT[action]} is not for connection {connection.id}: its source is on-prem AD "
            f"({connection.domain}); instead, {INSTEAD[action].replace('{id}', connection.id)}"
        )


def require_ad(connection: Connection, action: str) -> None:
    """NotForEntraSource (409) when an agent action is asked of an Entra connection."""
    if not connection.is_ad:
        raise NotForEntraSource(
            f"{action} is only for connections whose source is on-prem AD; connection {connection.id} reads its "
            'directory from Entra ID through Graph (create one with "source": "ad" and its "domain")'
        )


@dataclass(frozen=True)
class StateChange:
    state: str
    reason: str | None


def after_agents_change(connection: Connection, active_agents: int) -> StateChange | None:
    """The connection's state once its active agents number `active_agents` (None: unchanged). No agent left:
    pending_agent, and the scheduler skips it; the first agent makes a pending_agent connection active."""
    if not connection.is_ad or connection.state in ("disabled", "purging"):
        return None
    if active_agents == 0 and connection.state != "pending_agent":
        return StateChange("pending_agent", f"{NO_AGENT}: every agent of this AD connection was removed")
    if active_agents > 0 and connection.state == "pending_agent":
        return StateChange("active", None)
    return None


def after_run(connection: Connection, error_code: str | None) -> StateChange | None:
    """The state after an AD run: the agent has no AD password -> error (scheduler skips it until a run succeeds,
    e.g. an on-demand one after the password is back); a successful run clears that error."""
    if not connection.is_ad or connection.state not in ("active", "error"):
        return None
    if error_code == CREDENTIALS_MISSING:
        reason = f"{CREDENTIALS_MISSING}: the agent has no password for the AD account"
        return (
            None if (connection.state, connection.state_reason) == ("error", reason) else StateChange("error", reason)
        )
    if error_code is None and connection.state == "error":
        return StateChange("active", None)
    return None


REMEDIES: dict[str, str] = {
    NO_AGENT: "Create a registration code (POST /api/connections/{id}/agents/codes) and register an agent with it "
    f"({AGENT_DOCS}); scheduled syncs resume once it is registered.",
    CREDENTIALS_MISSING: "Put the AD account's password in the agent's password_file, then start a sync "
    "(POST /api/connections/{id}/sync); scheduled syncs resume after it succeeds.",
    "invalidCredentials": "AD refused the service account's bind: fix the account (52e bad password, 533 "
    "disabled, 775 locked) or the password in the agent's password_file.",
    "strongerAuthRequired": "Set the agent's ldap transport to ldaps or starttls.",
    "agent_attempts_exhausted": "Agents took the job but never answered: check the agents' logs and that they "
    "reach the app on outbound 443.",
    "offline": f"No agent called in for over {OFFLINE_AFTER_S} s: check that the agent's service runs and reaches "
    "the app on outbound 443 (docs/ad-agent.md, Network).",
}


def remedy(code: str | None, connection_id: str) -> str | None:
    """What the admin does about an AD state reason or run error code (its code is the text before ':')."""
    key = (code or "").split(":", 1)[0].strip()
    text = REMEDIES.get(key)
    return text.replace("{id}", connection_id) if text else None


def checks(
    connection: Connection, agents: list[dict[str, Any]], last_run: dict[str, Any] | None, now: float
) -> list[Check]:
    """What can be checked from the cloud: an agent registered, one online (its last contact), the last AD run."""
    cid = connection.id
    active = [a for a in agents if a.get("state") == "active"]
    out: list[Check] = []
    if not active:
        out.append(Check("agent_registered", "fail", "No agent is registered for this AD connection.",
                         remedy(NO_AGENT, cid) or ""))  # fmt: skip
        return out
    out.append(Check("agent_registered", "pass", f"{len(active)} agent(s) registered."))
    online = [a for a in active if agent_status(a, now) == "online"]
    if online:
        out.append(Check("agent_online", "pass", f"{len(online)} of {len(active)} agent(s) online."))
    else:
        last = max(float(a.get("last_seen") or 0) for a in active)
        ago = f"{int(now - last)} s ago" if last else "never"
        out.append(Check("agent_online", "fail", f"No agent is online (last contact {ago}).",
                         remedy("offline", cid) or ""))  # fmt: skip
    out.append(_run_check(cid, last_run))
    return out


def _run_check(cid: str, run: dict[str, Any] | None) -> Check:
    if run is None:
        return Check("last_ad_run", "warn", "No AD sync has run yet.",
                     f"Start one: POST /api/connections/{cid}/sync.")  # fmt: skip
    outcome, code = str(run.get("outcome") or ""), str(run.get("error_code") or "")
    when = str(run.get("ended_at") or run.get("started_at") or "")
    if outcome == "failed":
        fix = remedy(code, cid) or f"See the agent's log for {code or 'the error'}; {AGENT_DOCS} lists the codes."
        return Check("last_ad_run", "fail", f"The last AD run failed at {when}: {code or 'agent_failed'}.", fix)
    if outcome == "awaiting_approval":
        return Check("last_ad_run", "warn", f"The last AD run ({when}) holds removals over the deletion threshold.",
                     f"Review them, then POST /api/connections/{cid}/sync/approve.")  # fmt: skip
    return Check("last_ad_run", "pass", f"The last AD run ({when}) {outcome}.")
