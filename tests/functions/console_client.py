"""Console pages called as the host calls them, by a signed-in admin or reader: a real session (row and signed
cookie, shared/services/console_session.py) on the local stack, forms posted urlencoded with or without the CSRF
token."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.functions as func

from shared.composition import Container
from shared.config import load_settings
from shared.domain.console_session import ADMIN_ROLE, READER_ROLE, SESSION_COOKIE
from shared.services.console_session import start_session, user_of
from tests.functions.invoke import acall


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    headers: dict[str, str]

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass(frozen=True)
class Browser:
    """A signed-in console user (or nobody, with cookie None)."""

    oid: str
    name: str
    cookie: str | None
    csrf: str

    async def get(self, name: str, url: str, route: dict[str, str] | None = None) -> Answer:
        return await self.send(name, "GET", url, route)

    async def post(
        self,
        name: str,
        url: str,
        route: dict[str, str] | None = None,
        fields: list[tuple[str, str]] | None = None,
        *,
        csrf: bool = True,
        raw: bytes | None = None,
    ) -> Answer:
        pairs = ([("csrf", self.csrf)] if csrf else []) + list(fields or [])
        return await self.send(name, "POST", url, route, raw if raw is not None else urlencode(pairs).encode())

    async def send(
        self, name: str, method: str, url: str, route: dict[str, str] | None = None, body: bytes = b""
    ) -> Answer:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        request = func.HttpRequest(
            method,
            f"http://localhost:7071{url}",
            params=dict(parse_qsl(urlsplit(url).query)),
            route_params=route or {},
            headers=headers,
            body=body,
        )
        response = await acall(name, request)
        return Answer(response.status_code, response.get_body().decode(), dict(response.headers))


async def sign_in(env: dict[str, str], name: str, roles: set[str]) -> Browser:
    """A session as the console's sign-in would start it (the emulator's sign-in is h-cauth's to test)."""
    oid = str(uuid.uuid4())
    async with Container(load_settings(env)) as container:
        header = await start_session(container, oid, str(uuid.uuid4()), name, frozenset(roles), time.time())
        cookie = header.split(";", 1)[0].split("=", 1)[1]
        user = await user_of(container, cookie, time.time())
    assert user is not None
    return Browser(oid, name, cookie, user.csrf)


ADMIN_ROLES = {ADMIN_ROLE}
READER_ROLES = {READER_ROLE}
NOBODY = Browser("", "", None, "")


def connection_route(cid: str) -> dict[str, Any]:
    return {"id": cid}
