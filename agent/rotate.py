"""The agent's `rotate` job: open each sealed password with the agent's key, reset the user's `unicodePwd` by its
objectGUID, and answer per user `set`, `refused` with AD's code (a policy error: complexity, length, history), or
`unknown`. A password that was sent before and is refused now is checked by a bind: the domain may hold it already."""

from __future__ import annotations

from typing import Any

from agent.config import AgentConfig
from agent.errors import AgentError
from agent.keys import load_identity
from agent.ldap_conn import POLICY_HINTS, Directory
from agent.seal import open_sealed

# AD's extended error in the message of a refused unicodePwd change (the hex data code after the Win32 one)
POLICY_CODES = {"0000052D": "password_policy", "00000056": "wrong_password", "0000052C": "password_history"}
DEFINITE = {"constraintViolation", "noSuchObject", "insufficientAccessRights", "unwillingToPerform"}


def _refusal(result: dict[str, Any]) -> dict[str, Any]:
    description, message = str(result.get("description")), str(result.get("message") or "")
    code = next((name for hex_code, name in POLICY_CODES.items() if hex_code in message.upper()), description)
    if description == "noSuchObject":
        code = "user_not_found"
    outcome = "refused" if description in DEFINITE else "unknown"
    return {"outcome": outcome, "code": code, "message": message[:300]}


def rotate(config: AgentConfig, payload: dict[str, Any]) -> dict[str, Any]:
    identity = load_identity(config.state_dir)
    job_id = str(payload["job_id"])
    answers = []
    with Directory(config.ldap_settings()) as directory:
        hints = directory.supports(POLICY_HINTS)
        for item in payload["users"]:
            uid, version = str(item["user_id"]), str(item["version"])
            try:
                password = open_sealed(identity.encryption, str(item["sealed"]), f"{job_id}|{uid}|{version}")
            except AgentError as exc:
                answers.append({"user_id": uid, "outcome": "unknown", "code": exc.code})
                continue
            entry = directory.read(f"<GUID={uid}>", ["objectGUID"])
            if entry is None:
                answers.append({"user_id": uid, "outcome": "refused", "code": "user_not_found"})
                continue
            result = directory.modify_password(entry["dn"], password, policy_hints=hints)
            if result.get("description") == "success":
                answers.append({"user_id": uid, "outcome": "set"})
                continue
            answer = _refusal(result)
            if item.get("resend") and directory.binds_as(entry["dn"], password):
                answer = {"outcome": "set"}  # an earlier sending of this same password landed
            answers.append({"user_id": uid, **answer})
    return {"users": answers, "policy_hints": hints}
