"""The secrets data-plane HTTP API: routes Key Vault requests to the vault and writes Key Vault's JSON shapes."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulators.keyvault.auth import VAULT_RESOURCE, AuthFailure, Authorizer
from emulators.keyvault.control import Control
from emulators.keyvault.rules import RECOVERABLE_DAYS, VaultError, bad_parameter
from emulators.keyvault.state import DeletedRecord, SecretRecord, SecretVersion, Vault

log = logging.getLogger("emulators.keyvault")

SUPPORTED_API_VERSIONS = frozenset(
    {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}
)
MAX_PAGE_SIZE = 25  # Key Vault caps maxresults at 25

Handler = Callable[[web.Request, list[str]], Awaitable[web.Response]]


def _error(err: VaultError, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = dict(headers or {})
    if err.retry_after is not None:
        all_headers["Retry-After"] = str(err.retry_after)
    return web.json_response(err.body(), status=err.status, headers=all_headers)


class SecretsApi:
    """One vault's HTTP surface. `vault_url` is how ids and nextLinks are written (https://127.0.0.1:PORT)."""

    def __init__(self, vault: Vault, authorizer: Authorizer, control: Control, *, login_url: str) -> None:
        self.vault = vault
        self.authorizer = authorizer
        self.control = control
        self.login_url = login_url.rstrip("/")
        self.vault_url = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # --- pipeline: api-version, authentication, faults, dispatch ----------------------------------------------
    def _challenge(self, failure: AuthFailure) -> web.Response:
        challenge = f'Bearer authorization="{self.login_url}/{self.authorizer.tenant}", resource="{VAULT_RESOURCE}"'
        code = "Unauthorized" if failure.status == 401 else "Forbidden"
        err = VaultError(failure.status, code, failure.message, inner_code=failure.inner_code)
        return _error(err, {"WWW-Authenticate": challenge} if failure.status == 401 else None)

    async def handle(self, request: web.Request) -> web.Response:
        segments = [urllib.parse.unquote(s) for s in request.rel_url.raw_path.split("/") if s]
        operation, handler = self._route(request.method, segments)
        self.control.count("requests")
        api_version = request.query.get("api-version")
        if not api_version:
            return _error(bad_parameter("The api-version query parameter is required."))
        if api_version not in SUPPORTED_API_VERSIONS:
            return _error(bad_parameter(f"The specified version ({api_version}) is not recognized."))
        try:
            await self.authorizer.check(request.headers.get("Authorization"))
        except AuthFailure as failure:
            self.control.count("unauthorized" if failure.status == 401 else "forbidden")
            return self._challenge(failure)
        fault = self.control.take_fault(operation)
        if fault is not None:
            self.control.count("faults")
            return _error(fault)
        try:
            response = await handler(request, segments)
        except VaultError as err:
            if err.status == 429:
                self.control.count("throttled")
            return _error(err)
        self.control.count(operation)
        return response

    def _route(self, method: str, seg: list[str]) -> tuple[str, Handler]:
        n = len(seg)
        if n >= 1 and seg[0] == "secrets":
            if n == 1 and method == "GET":
                return "list", self._list_secrets
            if n == 2 and method == "PUT":
                return "set", self._set
            if n == 2 and method == "DELETE":
                return "delete", self._delete
            if n == 3 and seg[2] == "versions" and method == "GET":
                return "list_versions", self._list_versions
            if n in (2, 3) and method == "GET":
                return "get", self._get
            if n in (2, 3) and method == "PATCH":
                return "update", self._update
        if n >= 1 and seg[0] == "deletedsecrets":
            if n == 1 and method == "GET":
                return "list_deleted", self._list_deleted
            if n == 2 and method == "GET":
                return "get_deleted", self._get_deleted
            if n == 2 and method == "DELETE":
                return "purge", self._purge
            if n == 3 and seg[2] == "recover" and method == "POST":
                return "recover", self._recover
        return "unsupported", self._unsupported

    # --- JSON shapes ---------------------------------------------------------------------------------------
    def _attributes(self, v: SecretVersion) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": v.enabled}
        if v.not_before is not None:
            attrs["nbf"] = v.not_before
        if v.expires is not None:
            attrs["exp"] = v.expires
        attrs.update(
            created=v.created,
            updated=v.updated,
            recoveryLevel=self.vault.recovery_level,
            recoverableDays=RECOVERABLE_DAYS,
        )
        return attrs

    def _bundle(self, record: SecretRecord, v: SecretVersion, *, with_value: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if with_value:
            body["value"] = v.value
        body["id"] = f"{self.vault_url}/secrets/{record.name}/{v.version}"
        if v.content_type is not None:
            body["contentType"] = v.content_type
        body["attributes"] = self._attributes(v)
        if v.tags is not None:
            body["tags"] = dict(v.tags)
        return body

    def _item(self, record: SecretRecord, v: SecretVersion, *, with_version: bool) -> dict[str, Any]:
        ident = f"{self.vault_url}/secrets/{record.name}" + (f"/{v.version}" if with_version else "")
        item: dict[str, Any] = {"id": ident, "attributes": self._attributes(v)}
        if v.content_type is not None:
            item["contentType"] = v.content_type
        if v.tags is not None:
            item["tags"] = dict(v.tags)
        return item

    def _deleted(self, d: DeletedRecord, *, item: bool) -> dict[str, Any]:
        latest = d.record.latest
        body = (
            self._item(d.record, latest, with_version=False)
            if item
            else self._bundle(d.record, latest, with_value=False)
        )
        body.update(
            recoveryId=f"{self.vault_url}/deletedsecrets/{d.record.name}",
            deletedDate=d.deleted_date,
            scheduledPurgeDate=d.scheduled_purge_date,
        )
        return body

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """Key Vault paging: at most maxresults (<= 25) items and an opaque $skiptoken in nextLink."""
        raw_max = request.query.get("maxresults")
        size = self.control.page_size
        if raw_max is not None:
            if not raw_max.isdigit() or not 1 <= int(raw_max) <= MAX_PAGE_SIZE:
                raise bad_parameter(f"maxresults must be an integer between 1 and {MAX_PAGE_SIZE}.")
            size = min(size, int(raw_max))
        start = 0
        token = request.query.get("$skiptoken")
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token.encode() + b"==="))["NextMarker"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_parameter("The $skiptoken is invalid.") from exc
        page = items[start : start + size]
        next_link = None
        if start + size < len(items):
            marker = base64.urlsafe_b64encode(json.dumps({"NextMarker": start + size}).encode()).decode().rstrip("=")
            query = {"api-version": request.query["api-version"], "$skiptoken": marker}
            if raw_max is not None:
                query["maxresults"] = raw_max
            next_link = f"{self.vault_url}{request.path}?{urllib.parse.urlencode(query)}"
        return web.json_response({"value": page, "nextLink": next_link})

    # --- operations -----------------------------------------------------------------------------------------
    async def _json_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad_parameter("The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise bad_parameter("The request body must be a JSON object.")
        return body

    async def _set(self, request: web.Request, seg: list[str]) -> web.Response:
        record, version = self.vault.set_secret(seg[1], await self._json_body(request))
        log.info("set secret %s version %s", record.name, version.version)
        return web.json_response(self._bundle(record, version, with_value=True))

    async def _get(self, request: web.Request, seg: list[str]) -> web.Response:
        record, version = self.vault.get_secret(seg[1], seg[2] if len(seg) == 3 else "")
        if not version.enabled:
            raise VaultError(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner_code="SecretDisabled"
            )
        return web.json_response(self._bundle(record, version, with_value=True))

    async def _update(self, request: web.Request, seg: list[str]) -> web.Response:
        body = await self._json_body(request)
        record, version = self.vault.update_secret(seg[1], seg[2] if len(seg) == 3 else "", body)
        return web.json_response(self._bundle(record, version, with_value=False))

    async def _list_secrets(self, request: web.Request, seg: list[str]) -> web.Response:
        items = [self._item(r, r.latest, with_version=False) for r in self.vault.list_secrets()]
        return self._page(request, items)

    async def _list_versions(self, request: web.Request, seg: list[str]) -> web.Response:
        record, versions = self.vault.list_versions(seg[1])
        return self._page(request, [self._item(record, v, with_version=True) for v in versions])

    async def _delete(self, request: web.Request, seg: list[str]) -> web.Response:
        deleted = self.vault.delete_secret(seg[1])
        log.info("deleted secret %s", deleted.record.name)
        return web.json_response(self._deleted(deleted, item=False))

    async def _get_deleted(self, request: web.Request, seg: list[str]) -> web.Response:
        return web.json_response(self._deleted(self.vault.get_deleted(seg[1]), item=False))

    async def _list_deleted(self, request: web.Request, seg: list[str]) -> web.Response:
        return self._page(request, [self._deleted(d, item=True) for d in self.vault.list_deleted()])

    async def _recover(self, request: web.Request, seg: list[str]) -> web.Response:
        record = self.vault.recover(seg[1])
        log.info("recovered secret %s", record.name)
        return web.json_response(self._bundle(record, record.latest, with_value=False))

    async def _purge(self, request: web.Request, seg: list[str]) -> web.Response:
        self.vault.purge(seg[1])
        log.info("purged secret %s", seg[1])
        return web.Response(status=204)

    async def _unsupported(self, request: web.Request, seg: list[str]) -> web.Response:
        raise VaultError(400, "BadParameter", f"The emulator does not support {request.method} {request.path}.")
