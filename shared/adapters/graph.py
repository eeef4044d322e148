"""GraphClient: the one adapter over Microsoft Graph. Owns the bearer token, retries (429/503/504, Retry-After
first), paging (nextLink/deltaLink) and error typing. Parses JSON directly: no SDK models on hot paths."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from shared.errors import (
    DeltaTokenExpired,
    GraphError,
    GraphNotFound,
    GraphPermissionDenied,
    GraphUnavailable,
)

log = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 500, 502, 503, 504})
# After these a write may have been carried out although no answer says so (a gateway gave up, the connection
# broke after the request went out). 429 is a definite "not done"; a failure to connect never sent anything.
UNCERTAIN_STATUSES = frozenset({500, 502, 503, 504})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
DELTA_RESET_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})


class TokenSource(Protocol):
    async def token(self) -> str: ...


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # A 429 with Retry-After is retried after the wait it names for as long as the request has waited less than
    # this in all (Learn, "Microsoft Graph throttling guidance": keep waiting as told until the request succeeds),
    # whatever max_attempts says; the sync's time budget and checkpoints bound a run.
    max_throttled_s: float = 300.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        return float(min(self.base_delay_s * (2 ** (attempt - 1)) * (0.5 + random.random() / 2), self.max_delay_s))  # noqa: S311


@dataclass(frozen=True)
class DeltaPage:
    items: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None


@dataclass
class GraphStats:
    requests: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0  # 429 answers (each retried or raised), for the run signals (shared/telemetry.py)

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        error = body.get("error", {}) if isinstance(body, dict) else {}
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        return "", response.text[:200]


class GraphClient:
    """Graph v1.0 for one tenant. `base_url` is e.g. https://graph.microsoft.com/v1.0."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        concurrency: int = 8,
        low_priority: bool = True,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self.base_url = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._limit = asyncio.Semaphore(concurrency)
        self._low_priority = low_priority
        self._throttled_until = 0.0  # event-loop time before which no request is sent (a 429 named the wait)
        self.stats = GraphStats()

    async def sleep(self, seconds: float) -> None:
        await self._retry.sleep(seconds)

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith("https://") or path_or_url.startswith("http://"):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        label: str = "",
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise a typed GraphError. When an earlier attempt of a write
        may have been carried out (5xx, or the connection broke after sending), the error raised says so
        (`uncertain`): a later refusal does not prove the write never happened."""
        url = self.url(path_or_url)
        attempt = 0
        uncertain = False
        throttled_s = 0.0
        loop = asyncio.get_running_loop()
        while True:
            attempt += 1
            if (hold := self._throttled_until - loop.time()) > 0:  # the tenant's bucket is empty for every request
                await self._retry.sleep(hold)
            token = await self._tokens.token()
            send_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if self._low_priority:
                send_headers["x-ms-throttle-priority"] = "low"
            send_headers.update(headers or {})
            content = json.dumps(body).encode() if body is not None else None
            if content is not None:
                send_headers["Content-Type"] = "application/json"
            self.stats.requests[label or method] += 1
            try:
                async with self._limit:
                    response = await self._http.request(
                        method, url, params=params, headers=send_headers, content=content
                    )
            except httpx.TransportError as exc:
                uncertain = uncertain or not isinstance(exc, NOT_SENT)
                if attempt >= self._retry.max_attempts:
                    raise GraphUnavailable(
                        f"Graph could not be reached after {attempt} attempts: {type(exc).__name__}"
                    ) from exc
                self.stats.retries += 1
                await self._retry.sleep(self._retry.backoff(attempt, None))
                continue
            if response.status_code < 400:
                return response
            uncertain = uncertain or response.status_code in UNCERTAIN_STATUSES
            self.stats.throttled += response.status_code == 429
            told = _retry_after(response) if response.status_code == 429 else None
            if told is not None and throttled_s + told <= self._retry.max_throttled_s:
                delay = self._retry.backoff(attempt, told)
                throttled_s += delay
                self.stats.retries += 1
                self._throttled_until = max(self._throttled_until, loop.time() + delay)  # the others wait too
                log.info("graph %s %s: 429, retrying in %.1f s as told", method, label, delay)
                await self._retry.sleep(delay)
                continue
            if response.status_code in RETRYABLE and attempt < self._retry.max_attempts:
                self.stats.retries += 1
                delay = self._retry.backoff(attempt, _retry_after(response))
                log.info("graph %s %s: %s, retrying in %.1f s", method, label, response.status_code, delay)
                await self._retry.sleep(delay)
                continue
            error = self._typed_error(response, method, label)
            if isinstance(error, GraphError):
                error.uncertain = uncertain and method != "GET"
            raise error

    def _typed_error(self, response: httpx.Response, method: str, label: str) -> GraphError | GraphUnavailable:
        status = response.status_code
        code, message = _error_of(response)
        what = f"Graph {method} {label or 'request'} failed with {status} {code}: {message}".strip()
        if status == 410 or code in DELTA_RESET_CODES:
            return DeltaTokenExpired(what, status=status, graph_code=code or "Gone")
        if status == 403:
            return GraphPermissionDenied(what, status=status, graph_code=code)
        if status == 404:
            return GraphNotFound(what, status=status, graph_code=code)
        if status in RETRYABLE:
            return GraphUnavailable(
                f"{what} (still failing after {self._retry.max_attempts} attempts)",
                retry_after=_retry_after(response),
                code="graph_unavailable",
            )
        return GraphError(what, status=status, graph_code=code)

    async def get_json(self, path_or_url: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.request("GET", path_or_url, **kwargs)
        data: dict[str, Any] = json.loads(response.content)
        return data

    async def pages(self, path_or_url: str, **kwargs: Any) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page's `value`, following @odata.nextLink."""
        async for page in self.delta_pages(path_or_url, **kwargs):
            yield page.items

    async def delta_pages(self, path_or_url: str, **kwargs: Any) -> AsyncIterator[DeltaPage]:
        """Pages following @odata.nextLink (query params go on the first call only; the links carry them), each
        with its links; a delta round ends on the page that carries @odata.deltaLink (never both on one page)."""
        url: str | None = path_or_url
        first = True
        while url:
            data = await self.get_json(url, **(kwargs if first else {k: v for k, v in kwargs.items() if k != "params"}))
            first = False
            next_link = data.get("@odata.nextLink")
            yield DeltaPage(items=data.get("value", []), next_link=next_link, delta_link=data.get("@odata.deltaLink"))
            url = next_link

    async def caller_claims(self) -> dict[str, Any]:
        """The claims of the app's own token (tid, oid = its service principal, roles); never the token."""
        from shared.domain.token_claims import claims_of

        return claims_of(await self._tokens.token())

    async def patch(self, path: str, body: Mapping[str, Any], *, label: str = "patch") -> None:
        await self.request("PATCH", path, body=dict(body), label=label)
