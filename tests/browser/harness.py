"""Browser tests' harness: real headless Chromium driven by playwright-core (tests/browser/driver.mjs) over JSON
lines; trusts exactly the emulators' own certificates (SPKI pins checked against their CA), never every certificate.
`Browser` is async: the development host serving the app runs on the test's event loop."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.mjs")
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_S = 60.0


class BrowserError(Exception):
    """The driver refused a command (an element missing, a navigation that failed...)."""


def spki_pin(url: str, ca_path: str) -> str:
    """The base64 SHA-256 of the server certificate's SubjectPublicKeyInfo, after checking the certificate against
    the emulators' CA for that host (so only a certificate the CA issued is ever pinned)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_path)
    with (
        socket.create_connection((parts.hostname, parts.port or 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=parts.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    spki = (
        x509.load_der_x509_certificate(der).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class Browser:
    """One Chromium process; `new_context()` starts a fresh context (no cookies) for the next test."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._next = 0
        self._lock = asyncio.Lock()

    @classmethod
    async def launch(cls, pins: list[str], *, java_script: bool = True) -> Browser:
        """Start the driver; `pins`: spki_pin() of each server whose certificate to trust."""
        node = shutil.which("node")
        if node is None or not Path(CHROMIUM).exists():  # noqa: ASYNC240 (once per run, before any test)
            raise RuntimeError("browser tests need node and /usr/bin/chromium (make setup installs them)")
        options = {
            "executablePath": CHROMIUM,
            "spkiPins": sorted(set(pins)),
            "javaScript": java_script,
        }
        process = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER),
            json.dumps(options),
            cwd=str(REPO),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        browser = cls(process)
        await browser.new_context()
        return browser

    async def call(self, cmd: str, **args: Any) -> Any:
        async with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._next += 1
            self._process.stdin.write((json.dumps({"id": self._next, "cmd": cmd, "args": args}) + "\n").encode())
            await self._process.stdin.drain()
            line = await asyncio.wait_for(self._process.stdout.readline(), TIMEOUT_S)
        if not line:
            raise BrowserError(f"the browser driver ended (exit code {self._process.returncode})")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise BrowserError(f"{cmd}: {answer.get('error')}")
        return answer.get("result")

    async def new_context(self) -> None:
        await self.call("new_context")

    async def goto(self, url: str) -> dict[str, Any]:
        return dict(await self.call("goto", url=url) or {})

    async def fill(self, selector: str, value: str) -> None:
        await self.call("fill", selector=selector, value=value)

    async def click(self, selector: str) -> str:
        return str((await self.call("click", selector=selector))["url"])

    async def select(self, selector: str, value: str) -> None:
        await self.call("select", selector=selector, value=value)

    async def wait_for_url(self, pattern: str, timeout_ms: int = 15000) -> str:
        return str((await self.call("wait_for_url", pattern=pattern, timeout=timeout_ms))["url"])

    async def url(self) -> str:
        return str(await self.call("url"))

    async def text(self, selector: str = "body") -> str:
        return str(await self.call("text", selector=selector))

    async def attribute(self, selector: str, name: str) -> str | None:
        found = await self.call("attribute", selector=selector, name=name)
        return None if found is None else str(found)

    async def count(self, selector: str) -> int:
        return int(await self.call("count", selector=selector))

    async def content(self) -> str:
        return str(await self.call("content"))

    async def screenshot(self, path: str | Path, full_page: bool = True) -> str:
        return str(await self.call("screenshot", path=str(path), fullPage=full_page))

    async def cookies(self) -> list[dict[str, Any]]:
        return list(await self.call("cookies"))

    async def add_cookies(self, cookies: list[dict[str, Any]]) -> None:
        await self.call("add_cookies", cookies=cookies)

    async def clear_cookies(self) -> None:
        await self.call("clear_cookies")

    async def console_errors(self) -> list[dict[str, str]]:
        return list(await self.call("console_errors"))

    async def last_response(self) -> dict[str, Any]:
        """The last main-frame navigation's URL, status and headers (lower-case names)."""
        return dict(await self.call("last_response") or {})

    async def failures(self) -> list[dict[str, Any]]:
        """Every response of 400 or more the page received (navigations, stylesheets, favicons...)."""
        return list(await self.call("failures"))

    async def navigations(self) -> list[dict[str, Any]]:
        return list(await self.call("navigations"))

    async def request(
        self, method: str, url: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A request from the context with its cookies (no redirects followed): status, headers, body."""
        return dict(await self.call("request", method=method, url=url, form=form or {}, headers=headers or {}))

    async def close(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(BrowserError, TimeoutError):
                await self.call("close")
            try:
                await asyncio.wait_for(self._process.wait(), 20)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
