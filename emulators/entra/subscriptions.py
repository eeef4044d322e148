"""Graph `/subscriptions` (create, get, list, renew by PATCH, delete) for `/users` and `/groups`, with the documented
limits and errors (Learn: "Create subscription", "Update subscription", "Delete subscription", "Microsoft Graph
service-specific throttling limits" > change notifications, "Set up notifications for changes in resource data")."""

from __future__ import annotations

import datetime
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulators.entra.calls import GraphCall, GraphResult, ok
from emulators.entra.errors import GRAPH_CONTENT_TYPE, GraphError

if TYPE_CHECKING:
    from emulators.entra.notifier import Notifier

MAX_MINUTES = 41_760  # users, groups and other directory resources (Learn: subscription resource type, maximum length)
PER_APP_TENANT = 100  # per app and tenant, for users and for groups each (Learn: change notifications limits)
PER_TENANT = 1_000  # per tenant across all apps
CLIENT_STATE_MAX = 128
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
RESOURCES = {"users": "user", "groups": "group"}
# Learn, Create subscription > Permissions: user needs User.Read.All, group needs Group.Read.All (application),
# or a higher-privileged permission; GroupMember.Read.All is not enough for groups.
ALLOWED = {
    "users": frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}),
    "groups": frozenset({"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}),
}


@dataclass
class Subscription:
    id: str
    app_id: str
    tenant_id: str
    resource: str  # "users" | "groups"
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str
    expires: float  # emulator clock seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso(self.expires),
            "creatorId": self.app_id,
            "latestSupportedTlsVersion": "v1_2",
            "notificationContentType": None,
            "includeResourceData": False,
        }


def iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def parse_time(value: Any) -> float:
    if not isinstance(value, str):
        raise _invalid("expirationDateTime is required and must be a date and time.")
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(f"Invalid expirationDateTime '{value}'.") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _invalid(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


def _forbidden(reason: str) -> GraphError:
    return GraphError(
        403, "ExtensionError", f"Operation: Create; Exception: [Status Code: Forbidden; Reason: {reason}]"
    )


def _not_found() -> GraphError:
    return GraphError(404, "ResourceNotFound", "The object was not found.")


@dataclass
class SubscriptionStore:
    """Every subscription of the emulated service (all tenants), by id."""

    items: dict[str, Subscription] = field(default_factory=dict)
    allow_http: bool = False  # Graph delivers to HTTPS only; a control switch lets tests reach a plain-HTTP host
    lock: threading.RLock = field(default_factory=threading.RLock)

    def alive(self, now: float) -> list[Subscription]:
        """The subscriptions not yet expired; an expired one is gone, as Graph deletes unrenewed subscriptions."""
        with self.lock:
            for sid in [s.id for s in self.items.values() if s.expires <= now]:
                del self.items[sid]
            return list(self.items.values())

    def _check_expiry(self, value: Any, now: float) -> float:
        expires = parse_time(value)
        if expires <= now:
            raise _invalid("Subscription expiration must be in the future.")
        if expires > now + MAX_MINUTES * 60:
            raise _invalid(f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.")
        return expires

    def _check_url(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _invalid(f"{name} is required.")
        if not value.startswith("https://") and not (self.allow_http and value.startswith("http://")):
            raise _invalid(f"The {name} must be an HTTPS URL.")
        return value

    async def handle(self, call: GraphCall, notifier: Notifier) -> GraphResult:
        s, method, now = call.segments, call.method, call.world.clock.now()
        app = call.sp.client_id if call.sp is not None else ""
        if len(s) == 1 and method == "POST":
            return await self._create(call, notifier, app, now)
        if len(s) == 1 and method == "GET":
            mine = [x.to_json() for x in self.alive(now) if x.app_id == app and x.tenant_id == call.tenant.id]
            return ok({"@odata.context": f"{call.base}/$metadata#subscriptions", "value": mine})
        if len(s) != 2:
            raise GraphError(400, "BadRequest", "Resource not found for the segment 'subscriptions'.")
        sub = next((x for x in self.alive(now) if x.id == s[1] and x.app_id == app), None)
        if sub is None or sub.tenant_id != call.tenant.id:
            raise _not_found()
        if method == "GET":
            return ok({"@odata.context": f"{call.base}/$metadata#subscriptions/$entity", **sub.to_json()})
        if method == "PATCH":
            body = call.json_body()
            unknown = set(body) - {"expirationDateTime", "notificationUrl"}
            if unknown:
                raise _invalid(f"Only expirationDateTime and notificationUrl can be updated, not {sorted(unknown)}.")
            expires = self._check_expiry(body.get("expirationDateTime"), now)
            url = self._check_url("notificationUrl", body["notificationUrl"]) if "notificationUrl" in body else None
            if url is not None:
                await notifier.validate(url)
            with self.lock:
                sub.expires = expires
                if url is not None:
                    sub.notification_url = url
            return ok({"@odata.context": f"{call.base}/$metadata#subscriptions/$entity", **sub.to_json()})
        if method == "DELETE":
            with self.lock:
                self.items.pop(sub.id, None)
            return GraphResult(204, b"", {"Content-Type": GRAPH_CONTENT_TYPE})
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")

    async def _create(self, call: GraphCall, notifier: Notifier, app: str, now: float) -> GraphResult:
        body = call.json_body()
        resource = str(body.get("resource", "")).strip("/").lower()
        if resource not in RESOURCES:
            raise _invalid(f"Invalid resource '{body.get('resource')}': this emulator supports /users and /groups.")
        raw_types = body.get("changeType")
        types = frozenset(t.strip() for t in raw_types.split(",")) if isinstance(raw_types, str) else frozenset()
        if not types or not types <= CHANGE_TYPES:
            raise _invalid("changeType must be a comma-separated list of created, updated and deleted.")
        client_state = body.get("clientState")
        if not isinstance(client_state, str) or not client_state or len(client_state) > CLIENT_STATE_MAX:
            raise _invalid(f"clientState is required and must be at most {CLIENT_STATE_MAX} characters.")
        expires = self._check_expiry(body.get("expirationDateTime"), now)
        url = self._check_url("notificationUrl", body.get("notificationUrl"))
        lifecycle = body.get("lifecycleNotificationUrl")
        lifecycle = self._check_url("lifecycleNotificationUrl", lifecycle) if lifecycle is not None else None
        if not call.roles & ALLOWED[resource]:
            raise _forbidden("Insufficient privileges to complete the operation.")
        self._check_quota(app, call.tenant.id, resource, now)
        await notifier.validate(url)  # Learn: notificationUrl validation, answered within 10 s
        if lifecycle is not None:
            await notifier.validate(lifecycle)
        sub = Subscription(
            str(uuid.uuid4()), app, call.tenant.id, resource, types, url, lifecycle, client_state, expires
        )
        with self.lock:
            self._check_quota(app, call.tenant.id, resource, now)  # again: another create may have raced this one
            self.items[sub.id] = sub
        return ok({"@odata.context": f"{call.base}/$metadata#subscriptions/$entity", **sub.to_json()}, status=201)

    def _check_quota(self, app: str, tenant: str, resource: str, now: float) -> None:
        alive = [x for x in self.alive(now) if x.tenant_id == tenant and x.resource == resource]
        if sum(1 for x in alive if x.app_id == app) >= PER_APP_TENANT:
            raise _forbidden(f"The limit of {PER_APP_TENANT} {resource} subscriptions per app per tenant was reached.")
        if len(alive) >= PER_TENANT:
            raise _forbidden(f"The limit of {PER_TENANT} {resource} subscriptions per tenant was reached.")
