"""Entity group transactions (Table Storage `$batch`) encoded and sent by the app itself, for TableStore.

Why: a profile of the full sync (docs/benchmarks.md, "what made the difference") spent about half of the sync
process's CPU in the Tables SDK's multipart handling: every operation of a transaction is built as an HTTP request
object, serialized through `http.client` and `email`, and every part of the answer parsed back with `email`. Here a
transaction is a few string joins and its answer a scan of the status lines. The request is sent through
azure-core's own pipeline (its retry policy, its aiohttp transport, the storage account's Shared Key or an Entra token
for `https://storage.azure.com/.default`), the format is the documented one ("Performing entity group transactions",
Table service REST API). Anything this encoder does not know (a datetime, bytes, an int beyond 32 bits, a SAS
credential) is left to the SDK's transaction, so behaviour never depends on which path ran."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

Operation = tuple[Any, ...]  # ("upsert", entity, {"mode": UpdateMode}) | ("delete", keys)
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3})")
ERROR_CODE = re.compile(rb'"code"\s*:\s*"([^"]+)"')
API_VERSION = "2019-02-02"
STORAGE_SCOPE = "https://storage.azure.com/.default"
READ_HEADERS = {
    "x-ms-version": API_VERSION,
    "DataServiceVersion": "3.0",
    "MaxDataServiceVersion": "3.0;NetFx",
    "Accept": "application/json;odata=minimalmetadata",
}
PARAMETER = re.compile(r"@(\w+)")


class Unsupported(Exception):
    """A value this encoder leaves to the SDK."""


class BatchFailed(Exception):
    """The transaction was refused: the HTTP status of the refusing operation (or of the whole request) and the
    service's error code when it named one."""

    def __init__(self, status: int, code: str | None) -> None:
        super().__init__(f"table transaction refused: {status} {code or ''}".strip())
        self.status, self.code = status, code


def _json_value(name: str, value: Any, out: dict[str, Any]) -> None:
    kind = type(value)
    if value is None:
        return
    if kind is str or kind is bool:
        out[name] = value
    elif kind is int:
        if not -(2**31) <= value < 2**31:
            raise Unsupported(name)  # the SDK refuses it with its own TypeError
        out[name] = value
    elif kind is float:
        if math.isnan(value) or math.isinf(value):
            raise Unsupported(name)
        out[name] = value
        out[f"{name}@odata.type"] = "Edm.Double"
    else:
        raise Unsupported(name)


def entity_json(entity: dict[str, Any]) -> str:
    """An entity as the service takes it (JSON, minimal metadata); Unsupported for a value left to the SDK."""
    out: dict[str, Any] = {}
    for name, value in entity.items():
        _json_value(name, value, out)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def entity_values(body: dict[str, Any]) -> dict[str, Any]:
    """An entity from a minimal-metadata answer as the SDK gives it: strings, booleans and 32-bit integers as
    JSON has them, Edm.Double as a float; Unsupported for another annotated type (a 64-bit integer, which the SDK
    gives as an EntityProperty, a datetime, bytes, a GUID); the OData fields and the service's Timestamp dropped
    (the SDK keeps that in the entity's metadata, not among its values)."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("odata.") or name.endswith("@odata.type") or name == "Timestamp":
            continue
        kind = body.get(f"{name}@odata.type")
        if kind is None:
            out[name] = value
        elif kind == "Edm.Double":
            out[name] = float(value)
        else:
            raise Unsupported(name)
    return out


def filter_with(filter: str, parameters: dict[str, Any]) -> str:
    """The filter with its @parameters as OData literals (strings quoted, quotes doubled; booleans; 32-bit
    integers); Unsupported for another kind of value."""

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            return match.group(0)
        value = parameters[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        if isinstance(value, int) and -(2**31) <= value < 2**31:
            return str(value)
        raise Unsupported(name)

    return PARAMETER.sub(literal, filter)


def _key(value: Any) -> str:
    return quote(str(value).replace("'", "''"), safe="")


def _path_key(value: Any) -> str:
    """A key in a request's own path, encoded as aiohttp's URL (yarl) normalizes a path: sub-delimiters other
    than '+', ':' and '@' as they are, everything else percent-encoded. The Shared Key signs the path as sent, so
    what is signed is what the service receives (with %27 for a quote the sent path would hold ' instead)."""
    return quote(str(value).replace("'", "''"), safe="!$&'()*,;=:@")


def encode(base_url: str, table: str, operations: list[Operation], boundary: str) -> bytes:
    """The multipart/mixed body of one transaction (one changeset) for `boundary` (batch_...); Unsupported when an
    operation holds a value left to the SDK. Upsert merge is MERGE, upsert replace is PUT, delete is DELETE with
    If-Match: * (each addressed by its keys; no If-Match on upserts: insert or update)."""
    changeset = f"changeset_{boundary[len('batch_') :]}"
    parts: list[str] = []
    for op in operations:
        entity = op[1]
        url = f"{base_url}/{table}(PartitionKey='{_key(entity['PartitionKey'])}',RowKey='{_key(entity['RowKey'])}')"
        if op[0] == "delete":
            head = f"DELETE {url} HTTP/1.1\r\nAccept: application/json;odata=minimalmetadata\r\nIf-Match: *\r\n"
            body = ""
        else:
            verb = "PUT" if str(getattr(op[2]["mode"], "value", op[2]["mode"])).lower() == "replace" else "MERGE"
            body = entity_json(dict(entity))
            head = (
                f"{verb} {url} HTTP/1.1\r\nContent-Type: application/json\r\n"
                f"Accept: application/json;odata=minimalmetadata\r\nContent-Length: {len(body.encode())}\r\n"
            )
        parts.append(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"{head}DataServiceVersion: 3.0\r\n\r\n{body}\r\n"
        )
    text = (
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        + "".join(parts)
        + f"--{changeset}--\r\n--{boundary}--\r\n"
    )
    return text.encode()


def check_answer(status: int, body: bytes) -> None:
    """Raise BatchFailed unless the transaction's answer says every operation succeeded."""
    if status != 202:
        found = ERROR_CODE.search(body)
        raise BatchFailed(status, found.group(1).decode() if found else None)
    for match in STATUS_LINE.finditer(body):
        code = int(match.group(1))
        if not 200 <= code < 300:
            found = ERROR_CODE.search(body, match.end())
            raise BatchFailed(code, found.group(1).decode() if found else None)


def shared_key_signature(account: str, key: str, method: str, url: str, content_type: str, date: str) -> str:
    """The Table service's Shared Key: VERB, Content-MD5 (none), Content-Type, x-ms-date, /account/path."""
    text = f"{method}\n\n{content_type}\n{date}\n/{account}{urlsplit(url).path}"
    digest = hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


class BatchSender:
    """Sends encoded transactions through an azure-core pipeline of its own (made on first use, closed by the
    store). `for_service` gives None when the service's credential is one this sender does not sign for."""

    def __init__(
        self, base_url: str, credential: Any, hook: Callable[[Any], None] | None = None, trust_env: bool = False
    ) -> None:
        self.base_url = base_url.split("?", 1)[0].rstrip("/")
        self._credential = credential
        self._hook = hook
        self._trust_env = trust_env
        self._client: Any = None

    @classmethod
    def for_service(
        cls, service: Any, hook: Callable[[Any], None] | None = None, trust_env: bool = False
    ) -> BatchSender | None:
        from azure.core.credentials import AzureNamedKeyCredential

        credential = getattr(service, "credential", None)
        if isinstance(credential, AzureNamedKeyCredential) or hasattr(credential, "get_token"):
            return cls(str(service.url), credential, hook, trust_env)
        return None

    def _pipeline(self) -> Any:
        if self._client is None:
            from azure.core import AsyncPipelineClient
            from azure.core.pipeline.policies import (
                AsyncBearerTokenCredentialPolicy,
                AsyncRetryPolicy,
                CustomHookPolicy,
                SansIOHTTPPolicy,
                UserAgentPolicy,
            )

            sender = self

            class SharedKey(SansIOHTTPPolicy):  # type: ignore[type-arg]
                def on_request(self, request: Any) -> None:
                    http = request.http_request
                    http.headers["x-ms-date"] = formatdate(usegmt=True)
                    named = sender._credential.named_key
                    http.headers["Authorization"] = shared_key_signature(
                        named.name, named.key, http.method, http.url, http.headers.get("Content-Type", ""),
                        http.headers["x-ms-date"],
                    )  # fmt: skip

            auth: Any = (
                AsyncBearerTokenCredentialPolicy(self._credential, STORAGE_SCOPE)
                if hasattr(self._credential, "get_token")
                else SharedKey()
            )
            hooks = CustomHookPolicy(raw_request_hook=self._hook) if self._hook else None
            policies = [UserAgentPolicy(sdk_moniker="entra-connector-tables"), AsyncRetryPolicy(), auth]
            from shared.adapters.http_transport import storage_transport

            self._client = AsyncPipelineClient(
                self.base_url,
                policies=[p for p in (*policies, hooks) if p],
                transport=storage_transport(self._trust_env),
            )
        return self._client

    async def send(self, table: str, operations: list[Operation]) -> None:
        """One transaction; BatchFailed when refused, Unsupported (before anything is sent) for a value left to the
        SDK, azure-core's errors when the service cannot be reached after its retries."""
        from azure.core.rest import HttpRequest

        boundary = f"batch_{uuid.uuid4()}"
        body = encode(self.base_url, table, operations, boundary)
        request = HttpRequest(
            "POST",
            f"{self.base_url}/$batch",
            headers={
                "x-ms-version": API_VERSION,
                "DataServiceVersion": "3.0",
                "MaxDataServiceVersion": "3.0;NetFx",
                "Content-Type": f"multipart/mixed; boundary={boundary}",
                "Accept": "application/json",
            },
            content=body,
        )
        response = await self._pipeline().send_request(request)
        check_answer(response.status_code, response.content)

    async def get(self, table: str, partition: str, row: str, select: list[str]) -> dict[str, Any] | None:
        """One entity's `select`ed properties by a GET of its keys (Table service REST API, "Query Entities": a
        point query), as plain values; None when the service has no such row or table. Unsupported for a property
        type this reader leaves to the SDK (a datetime, bytes, a GUID)."""
        url = f"{self.base_url}/{table}(PartitionKey='{_path_key(partition)}',RowKey='{_path_key(row)}')"
        url += "?" + urlencode({"$select": ",".join(select)}, quote_via=quote)
        answer, _ = await self._read(url)
        return entity_values(answer) if answer is not None else None

    async def query_page(
        self, table: str, filter: str, select: list[str] | None, top: int, after: tuple[str, str] | None
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """One page of a query ("Query Entities"): its entities as plain values and the continuation (the
        service's NextPartitionKey and NextRowKey) or None at the end. A missing table is an empty answer."""
        params = {"$filter": filter, "$top": str(top)}
        if select is not None:  # None: every property
            params["$select"] = ",".join(select)
        if after is not None:
            params.update(NextPartitionKey=after[0], NextRowKey=after[1])
        url = f"{self.base_url}/{table}()?{urlencode(params, quote_via=quote)}"  # azure-core leaves params raw
        answer, headers = await self._read(url)
        if answer is None:
            return [], None
        rows = [entity_values(e) for e in answer.get("value", [])]
        pk = headers.get("x-ms-continuation-NextPartitionKey")
        return rows, (pk, headers.get("x-ms-continuation-NextRowKey") or "") if pk else None

    async def _read(self, url: str) -> tuple[dict[str, Any] | None, Any]:
        """A GET's JSON answer and headers; None for 404 (no such row or table); BatchFailed for another refusal."""
        from azure.core.rest import HttpRequest

        response = await self._pipeline().send_request(HttpRequest("GET", url, headers=dict(READ_HEADERS)))
        if response.status_code == 404:
            return None, response.headers
        if response.status_code != 200:
            found = ERROR_CODE.search(response.content)
            raise BatchFailed(response.status_code, found.group(1).decode() if found else None)
        return json.loads(response.content), response.headers

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
