"""The agent's HTTPS client to the function app: outbound only, the service's certificate checked, every call
after registration signed with the agent's Ed25519 key (agent/protocol.py)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ProtocolError
from agent.keys import AgentIdentity
from agent.protocol import signed_headers

LONG_POLL_S = 20


class ServiceClient:
    def __init__(self, service_url: str, *, ca_file: str | None = None, timeout_s: float = 60.0) -> None:
        import httpx

        if urlsplit(service_url).scheme != "https":
            raise ProtocolError("service_url", "the agent talks to the service over HTTPS only")
        self.service_url = service_url.rstrip("/")
        self._prefix = urlsplit(self.service_url).path
        self._http = httpx.Client(base_url=self.service_url, verify=ca_file or True, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check(response: Any, ok: tuple[int, ...]) -> Any:
        if response.status_code in ok:
            return response.json() if response.content else None
        try:
            error = response.json()
        except ValueError:
            error = {"code": f"http_{response.status_code}", "message": response.text[:200]}
        raise ProtocolError(str(error.get("code")), str(error.get("message")))

    def register(
        self, code: str, name: str, version: str, signing_key: str, encryption_key: str, host: str = ""
    ) -> dict[str, Any]:
        """`host`: the machine the agent runs on (shown in the console and the agents list; optional)."""
        body = {"code": code, "name": name, "version": version, "signing_key": signing_key,
                "encryption_key": encryption_key}  # fmt: skip
        if host:
            body["host"] = host[:255]
        return dict(self._check(self._http.post("/api/agent/register", json=body), (201,)))

    def signed(
        self, identity: AgentIdentity, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> Any:
        """One signed request: a JSON `body`, or `raw` bytes (a part of a large answer)."""
        content = raw if raw is not None else json.dumps(body).encode() if body is not None else b""
        headers = signed_headers(identity.signing, identity.agent_id, method, self._prefix + path, content)
        if content:
            headers["Content-Type"] = "application/octet-stream" if raw is not None else "application/json"
        return self._http.request(method, path, content=content, headers=headers)

    def poll(self, identity: AgentIdentity, wait_s: int = LONG_POLL_S) -> dict[str, Any] | None:
        answer = self._check(self.signed(identity, "POST", f"/api/agent/poll?wait={wait_s}"), (200, 204))
        return dict(answer["job"]) if answer else None

    def heartbeat(self, identity: AgentIdentity, job_id: str) -> bool:
        """False when the lease is lost (another agent has the job): the agent stops working on it."""
        response = self.signed(identity, "POST", f"/api/agent/jobs/{job_id}/heartbeat")
        if response.status_code == 409:
            return False
        self._check(response, (200,))
        return True

    def result(self, identity: AgentIdentity, job_id: str, body: dict[str, Any]) -> bool:
        response = self.signed(identity, "POST", f"/api/agent/jobs/{job_id}/result", body)
        if response.status_code == 409:
            return False
        self._check(response, (200,))
        return True

    def result_part(self, identity: AgentIdentity, job_id: str, index: int, chunk: bytes) -> bool:
        """Part `index` of a large answer (bytes of its JSON); False when the lease is lost."""
        response = self.signed(identity, "POST", f"/api/agent/jobs/{job_id}/result/parts/{index}", raw=chunk)
        if response.status_code == 409:
            return False
        self._check(response, (200,))
        return True
