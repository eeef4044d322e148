"""What the agent does for each job kind: `probe` (bind and name the DC), `sync` (read the directory,
agent/ad_reader.py), `rotate` (set passwords, agent/rotate.py). Each opens its own LDAP connection with the
service account's password read at that moment."""

from __future__ import annotations

from typing import Any

from agent.ad_reader import dc_identity, read_directory
from agent.config import AgentConfig
from agent.ldap_conn import Directory
from agent.rotate import rotate
from agent.runner import Handler


def handlers(config: AgentConfig) -> dict[str, Handler]:
    def probe(payload: dict[str, Any]) -> dict[str, Any]:
        with Directory(config.ldap_settings()) as directory:
            return {"dc": dc_identity(directory)}

    def sync(payload: dict[str, Any]) -> dict[str, Any]:
        with Directory(config.ldap_settings()) as directory:
            rotation_group = payload.get("rotation_group") or None
            return read_directory(directory, str(payload["sync_group"]), payload.get("cursor"), rotation_group)

    def rotate_job(payload: dict[str, Any]) -> dict[str, Any]:
        return rotate(config, payload)

    return {"probe": probe, "sync": sync, "rotate": rotate_job}
