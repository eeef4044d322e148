"""Error bodies in the shapes Entra's token service and Microsoft Graph use, and exceptions that carry them."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


def utc_stamp(seconds: float, fmt: str = "%Y-%m-%dT%H:%M:%S") -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(fmt)


class EntraError(Exception):
    """An AADSTS error from the login endpoints: `error` (OAuth code), AADSTS number and description."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.status = status
        self.error = error
        self.code = code
        self.description = description

    def body(self, now: float) -> dict[str, Any]:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = utc_stamp(now, "%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description} Trace ID: {trace_id} "
                f"Correlation ID: {correlation_id} Timestamp: {stamp}"
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


class GraphError(Exception):
    """A Graph error: HTTP status, OData error code and message (plus optional response headers)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self, request_id: str, client_request_id: str, now: float) -> bytes:
        return json.dumps(
            {
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "innerError": {
                        "date": utc_stamp(now),
                        "request-id": request_id,
                        "client-request-id": client_request_id,
                    },
                }
            }
        ).encode()


def denied() -> GraphError:
    return GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def not_found(key: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def unsupported(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)
