"""The agent's configuration file (JSON): the service's URL, the state folder (keys, identity), the domain's LDAP
settings and where the AD account's password file is. The password itself is never in this file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import LdapConfigError
from agent.keys import read_password
from agent.ldap_conn import LdapSettings

LDAP_FIELDS = {"host", "port", "transport", "base_dn", "bind_user", "ca_file", "server_name", "page_size"}
DEFAULT_PART_BYTES = 256 * 1024
MAX_PART_BYTES = 512 * 1024  # what the service takes in one part (shared/services/agent_parts.py)


@dataclass(frozen=True)
class AgentConfig:
    service_url: str
    state_dir: Path
    password_file: str
    ldap: dict[str, Any] = field(default_factory=dict)
    service_ca_file: str | None = None
    name: str = "agent"
    result_part_bytes: int = DEFAULT_PART_BYTES  # an answer larger than this is sent in parts of this size
    pause_after_lease_s: float = 0.0  # test only: hold a leased job (heartbeating) this long before working on it
    pause_before_result_s: float = 0.0  # test only: wait this long between doing a job and posting its answer

    @classmethod
    def load(cls, path: str | Path) -> AgentConfig:
        data = json.loads(Path(path).read_text())
        unknown = set(data.get("ldap", {})) - LDAP_FIELDS
        if unknown:
            raise LdapConfigError(sorted(unknown)[0], "is not an LDAP setting of the agent")
        if "password" in data or "password" in data.get("ldap", {}):
            raise LdapConfigError("password", "does not belong in the config file: put it in password_file")
        return cls(
            service_url=data["service_url"],
            state_dir=Path(data["state_dir"]),
            password_file=data["password_file"],
            ldap=dict(data.get("ldap", {})),
            service_ca_file=data.get("service_ca_file"),
            name=data.get("name", "agent"),
            result_part_bytes=_part_bytes(data.get("result_part_bytes", DEFAULT_PART_BYTES)),
            pause_after_lease_s=float(data.get("pause_after_lease_s", 0)),
            pause_before_result_s=float(data.get("pause_before_result_s", 0)),
        )

    def ldap_settings(self) -> LdapSettings:
        """Read at use time: the password file is opened for each job, so replacing or removing it takes effect
        at the next job."""
        return LdapSettings(password=read_password(self.password_file), **self.ldap)

    def run_options(self) -> dict[str, Any]:
        """What the work loop needs of this configuration besides the handlers (agent/runner.py work_once)."""
        return {
            "part_bytes": self.result_part_bytes,
            "pause_after_lease_s": self.pause_after_lease_s,
            "pause_before_result_s": self.pause_before_result_s,
        }


def _part_bytes(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1024 <= value <= MAX_PART_BYTES:
        raise LdapConfigError("result_part_bytes", f"must be a whole number of bytes, 1024..{MAX_PART_BYTES}")
    return value
