"""The control API: set up scenarios, change the directory, inject faults, read counters and ground truth."""

from __future__ import annotations

import random
import uuid
from typing import Any, cast

from emulators.entra.app_roles import AppRoleControl
from emulators.entra.control_clouds import CloudControl, CloudControlError
from emulators.entra.control_notifications import NotificationControl
from emulators.entra.control_signin import SignInControl, SignInControlError
from emulators.entra.delegated import DelegatedControl
from emulators.entra.directory import DirectoryError
from emulators.entra.faults import KINDS, FaultKind, FaultRule, Faults
from emulators.entra.login import DECISIONS, grant_consent
from emulators.entra.model import OTHER_KINDS, DirectoryObject, Group, Secret, User
from emulators.entra.notifier import Notifier
from emulators.entra.seed import group_props, object_props, secret_value
from emulators.entra.state import Settings, Tenant, World


class ControlError(Exception):
    """A control request that cannot be carried out (unknown tenant, user, app...)."""


class Control(SignInControl, CloudControl, AppRoleControl, DelegatedControl, NotificationControl):
    """Thread-safe operations on the emulator's state; the HTTP control API exposes exactly these (OPERATIONS)."""

    OPERATIONS = (
        SignInControl.OPERATIONS
        | CloudControl.OPERATIONS
        | AppRoleControl.OPERATIONS
        | DelegatedControl.OPERATIONS
        | NotificationControl.OPERATIONS
        | frozenset(
            {
                "tenants",
                "sequence",
                "create_user",
                "update_user",
                "get_user",
                "delete_user",
                "restore_user",
                "hard_delete_user",
                "expire_deleted_items",
                "get_password",
                "create_group",
                "create_directory_object",
                "rename_group",
                "delete_group",
                "add_member",
                "remove_member",
                "set_fault",
                "set_throttling",
                "clear_faults",
                "faults",
                "counters",
                "advance_clock",
                "freeze_clock",
                "now",
                "set_consent_decision",
                "grant_consent",
                "revoke_consent",
                "remove_service_principal",
                "grant_permissions",
                "revoke_permissions",
                "assign_directory_role",
                "remove_directory_role",
                "add_secret",
                "remove_secret",
                "set_redirect_uris",
                "set_propagation_delay",
                "force_delta_reset",
                "set_delta_duplicates",
                "set_delta_page_size",
                "set_delta_max_age",
                "set_password_reset_requires_role",
                "set_consistency_lag",
                "consistency",
                "ground_truth",
                "reset_behaviour",
            }
        )
    )

    def __init__(
        self, world: World, faults: Faults, description: list[dict[str, Any]], notifier: Notifier | None = None
    ) -> None:
        self._notifier = notifier or Notifier(world)
        self._world = world
        self._faults = faults
        self._description = description

    def call(self, operation: str, arguments: dict[str, Any]) -> Any:
        if operation not in self.OPERATIONS:
            raise ControlError(f"unknown control operation {operation!r}")
        try:
            return getattr(self, operation)(**arguments)
        except TypeError as exc:
            raise ControlError(f"{operation}: {exc}") from exc
        except (SignInControlError, CloudControlError) as exc:
            raise ControlError(str(exc)) from exc

    # -- helpers ----------------------------------------------------------------------------------
    def _tenant(self, tenant: str) -> Tenant:
        found = self._world.find_tenant(tenant)
        if found is None:
            raise ControlError(f"no tenant {tenant!r}")
        found.settle(self._world.clock.now(), self._world.settings.deleted_items_retention_s)
        return found

    def _user(self, t: Tenant, user_id: str) -> User:
        user = t.directory.users.get(user_id) or t.directory.find_user(user_id)
        if user is None:
            raise ControlError(f"no user {user_id!r} in tenant {t.id}")
        return user

    def _group(self, t: Tenant, group_id: str) -> Group:
        group = t.directory.groups.get(group_id)
        if group is None or group.state != "active":
            raise ControlError(f"no group {group_id!r} in tenant {t.id}")
        return group

    # -- reads ------------------------------------------------------------------------------------
    def tenants(self) -> list[dict[str, Any]]:
        return self._description

    def sequence(self, tenant: str) -> int:
        with self._world.lock:
            return self._tenant(tenant).directory.seq

    def now(self) -> float:
        return self._world.clock.now()

    def get_user(self, tenant: str, user_id: str) -> dict[str, Any]:
        with self._world.lock:
            user = self._user(self._tenant(tenant), user_id)
            return {
                **user.props,
                "state": user.state,
                "roles": list(user.roles),
                "groups": sorted(self._tenant(tenant).directory.member_of.get(user.id, ())),
            }

    def get_password(self, tenant: str, user_id: str) -> str | None:
        """The user's current password (only ever readable here): proves a rotation happened."""
        with self._world.lock:
            return self._user(self._tenant(tenant), user_id).password

    def ground_truth(self, tenant: str, scope_group_id: str | None = None) -> dict[str, Any]:
        with self._world.lock:
            t = self._tenant(tenant)
            try:
                return t.directory.ground_truth(scope_group_id or t.sync_group_id)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc

    # -- directory changes ------------------------------------------------------------------------
    def create_user(
        self,
        tenant: str,
        given_name: str,
        surname: str,
        user_principal_name: str | None = None,
        department: str = "Engineering",
        job_title: str = "Engineer",
        account_enabled: bool = True,
        on_premises_sync: bool = False,
        roles: list[str] | None = None,
        password: str | None = None,
        groups: list[str] | None = None,
    ) -> dict[str, Any]:
        with self._world.lock:
            t = self._tenant(tenant)
            uid = str(uuid.uuid4())
            upn = user_principal_name or f"{given_name.lower()}.{surname.lower()}.{uid[:8]}@{t.domains[1]}"
            props: dict[str, Any] = {
                "id": uid,
                "businessPhones": [],
                "displayName": f"{given_name} {surname}",
                "givenName": given_name,
                "surname": surname,
                "jobTitle": job_title,
                "mail": upn,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": "en-US",
                "userPrincipalName": upn,
                "department": department,
                "accountEnabled": account_enabled,
                "onPremisesSyncEnabled": True if on_premises_sync else None,
                "userType": "Member",
                "mailNickname": upn.split("@", 1)[0],
                "createdDateTime": "2025-01-01T00:00:00Z",
            }
            try:
                user = t.directory.add_user(User(id=uid, props=props, roles=tuple(roles or ()), password=password))
                for gid in groups or ():
                    t.directory.add_member(self._group(t, gid), uid)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc
            return dict(user.props)

    def update_user(self, tenant: str, user_id: str, **changes: Any) -> dict[str, Any]:
        with self._world.lock:
            t = self._tenant(tenant)
            user = self._user(t, user_id)
            roles = changes.pop("roles", None)
            if roles is not None:
                user.roles = tuple(roles)
            t.directory.update_user(user, changes)
            return dict(user.props)

    def delete_user(self, tenant: str, user_id: str) -> None:
        """Soft delete (to deleted items, restorable for 30 days): memberships are kept but hidden; users/delta
        reports `@removed: changed`, group delta nothing."""
        self._directory_op(tenant, user_id, "soft_delete_user")

    def restore_user(self, tenant: str, user_id: str) -> None:
        """Back with the same memberships; users/delta reports the user again, group delta nothing."""
        self._directory_op(tenant, user_id, "restore_user")

    def hard_delete_user(self, tenant: str, user_id: str) -> None:
        """Gone for good; users/delta reports `@removed: deleted`, group delta each of its links `@removed`."""
        self._directory_op(tenant, user_id, "hard_delete_user")

    def expire_deleted_items(self, tenant: str, user_id: str | None = None) -> list[str]:
        """As if the 30-day deleted-items window had passed now, for one soft-deleted user or all of them: they are
        deleted for good (what advancing the clock 30 days does too). Returns the ids purged."""
        with self._world.lock:
            t = self._tenant(tenant)
            if user_id is not None and t.directory.users.get(user_id, None) is None:
                raise ControlError(f"no user {user_id!r} in tenant {t.id}")
            if user_id is not None and user_id not in t.directory.deleted_items:
                raise ControlError(f"user {user_id!r} is not in deleted items")
            ids = [user_id] if user_id is not None else sorted(t.directory.deleted_items)
            for uid in ids:
                t.directory.hard_delete_user(t.directory.users[uid])
            return ids

    def _directory_op(self, tenant: str, user_id: str, name: str) -> None:
        with self._world.lock:
            t = self._tenant(tenant)
            user = self._user(t, user_id)
            try:
                if name == "soft_delete_user":
                    t.directory.soft_delete_user(user, self._world.clock.now())
                else:
                    getattr(t.directory, name)(user)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc

    def create_group(self, tenant: str, display_name: str, members: list[str] | None = None) -> dict[str, Any]:
        with self._world.lock:
            t = self._tenant(tenant)
            gid = str(uuid.uuid4())
            props = group_props(gid, display_name, created="2025-01-01T00:00:00Z")
            group = t.directory.add_group(Group(id=gid, props=props))
            try:
                for mid in members or ():
                    t.directory.add_member(group, mid)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc
            return dict(group.props)

    def create_directory_object(
        self, tenant: str, kind: str, display_name: str, groups: list[str] | None = None
    ) -> dict[str, Any]:
        """A device, service principal or organizational contact, optionally made a member of groups."""
        if kind not in OTHER_KINDS:
            raise ControlError(f"kind must be one of {OTHER_KINDS}")
        with self._world.lock:
            t = self._tenant(tenant)
            oid = str(uuid.uuid4())
            props = object_props(kind, oid, display_name, random.Random(oid))
            obj = t.directory.add_object(DirectoryObject(id=oid, kind=kind, props=props))
            try:
                for gid in groups or ():
                    t.directory.add_member(self._group(t, gid), oid)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc
            return {"@odata.type": f"#microsoft.graph.{kind}", **obj.props}

    def rename_group(self, tenant: str, group_id: str, display_name: str) -> None:
        with self._world.lock:
            t = self._tenant(tenant)
            t.directory.update_group(self._group(t, group_id), {"displayName": display_name})

    def delete_group(self, tenant: str, group_id: str) -> None:
        with self._world.lock:
            t = self._tenant(tenant)
            t.directory.delete_group(self._group(t, group_id))

    def add_member(self, tenant: str, group_id: str, member_id: str) -> bool:
        with self._world.lock:
            t = self._tenant(tenant)
            try:
                return t.directory.add_member(self._group(t, group_id), member_id)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc

    def remove_member(self, tenant: str, group_id: str, member_id: str) -> bool:
        with self._world.lock:
            t = self._tenant(tenant)
            try:
                return t.directory.remove_member(self._group(t, group_id), member_id)
            except DirectoryError as exc:
                raise ControlError(str(exc)) from exc

    # -- faults, counters, clock --------------------------------------------------------------------
    def set_fault(
        self,
        kind: str,
        rate: float | None = None,
        nth: int | None = None,
        count: int | None = None,
        path_prefix: str | None = None,
        endpoint: str | None = None,
        retry_after: int | None = 1,
        latency_ms: int = 0,
        tenant: str | None = None,
    ) -> int:
        if kind not in KINDS:
            raise ControlError(f"unknown fault kind {kind!r}; use one of {KINDS}")
        rule = FaultRule(
            kind=cast(FaultKind, kind),
            rate=rate,
            nth=nth,
            count=count,
            path_prefix=path_prefix,
            endpoint=endpoint,
            retry_after=retry_after,
            latency_ms=latency_ms,
            tenant=tenant,
        )
        try:
            return self._faults.add(rule)
        except ValueError as exc:
            raise ControlError(str(exc)) from exc

    def set_throttling(self, enabled: bool = True, scale: float = 1.0) -> None:
        """Resource-unit throttling (on, at the documented sizes, by default). `scale` multiplies every limit, so a
        test can reach one with a few requests; buckets start full again."""
        if not 0 < float(scale) <= 1000:
            raise ControlError("scale must be above 0 and at most 1000")
        self._world.throttle.reset(enabled=bool(enabled), scale=float(scale))

    def clear_faults(self, seed: int | None = None) -> None:
        self._faults.clear(seed)

    def faults(self) -> list[dict[str, Any]]:
        return [rule.describe() for rule in self._faults.rules]

    def counters(self, reset: bool = False) -> dict[str, int]:
        return self._faults.read_counters(reset)

    def advance_clock(self, seconds: float) -> float:
        return self._world.clock.advance(seconds)

    def freeze_clock(self, frozen: bool = True) -> float:
        """Frozen, emulated time moves only by advance_clock (lags and delays without real waiting)."""
        return self._world.clock.freeze(bool(frozen))

    # -- consent, apps, permissions ---------------------------------------------------------------------
    def set_consent_decision(self, tenant: str, decision: str) -> None:
        if decision not in DECISIONS:
            raise ControlError(f"decision must be one of {DECISIONS}")
        with self._world.lock:
            self._tenant(tenant).consent_decision = decision

    def grant_consent(self, tenant: str, client_id: str, permissions: list[str] | None = None) -> dict[str, Any]:
        """Pre-consent an app (as if an admin had consented): creates its service principal in the tenant."""
        with self._world.lock:
            if client_id not in self._world.apps:
                raise ControlError(f"no app {client_id!r}")
            sp = grant_consent(self._world, self._tenant(tenant), client_id, permissions)
            return {"service_principal_id": sp.id, "permissions": sorted(sp.permissions)}

    def revoke_consent(self, tenant: str, client_id: str) -> None:
        """The service principal stays, the grant goes: tokens then fail with AADSTS65001."""
        with self._world.lock:
            sp = self._sp(tenant, client_id)
            sp.consented = False
            sp.permissions.clear()

    def remove_service_principal(self, tenant: str, client_id: str) -> None:
        with self._world.lock:
            self._tenant(tenant).service_principals.pop(client_id, None)

    def grant_permissions(self, tenant: str, client_id: str, permissions: list[str]) -> list[str]:
        with self._world.lock:
            sp = self._sp(tenant, client_id)
            sp.permissions |= set(permissions)
            return sorted(sp.permissions)

    def revoke_permissions(self, tenant: str, client_id: str, permissions: list[str]) -> list[str]:
        with self._world.lock:
            sp = self._sp(tenant, client_id)
            sp.permissions -= set(permissions)
            return sorted(sp.permissions)

    def assign_directory_role(self, tenant: str, client_id: str, role: str) -> None:
        with self._world.lock:
            self._sp(tenant, client_id).directory_roles.add(role)

    def remove_directory_role(self, tenant: str, client_id: str, role: str) -> None:
        with self._world.lock:
            self._sp(tenant, client_id).directory_roles.discard(role)

    def _sp(self, tenant: str, client_id: str) -> Any:
        sp = self._tenant(tenant).service_principals.get(client_id)
        if sp is None:
            raise ControlError(f"app {client_id!r} has no service principal in tenant {tenant!r}")
        return sp

    def add_secret(self, client_id: str, expires_in_s: float, value: str | None = None) -> dict[str, Any]:
        with self._world.lock:
            app = self._world.apps.get(client_id)
            if app is None:
                raise ControlError(f"no app {client_id!r}")
            secret = Secret(
                key_id=str(uuid.uuid4()),
                value=value or secret_value(random.Random()),
                end=self._world.clock.now() + expires_in_s,
            )
            app.secrets.append(secret)
            return {"key_id": secret.key_id, "value": secret.value, "end": secret.end}

    def remove_secret(self, client_id: str, key_id: str) -> None:
        with self._world.lock:
            app = self._world.apps.get(client_id)
            if app is None:
                raise ControlError(f"no app {client_id!r}")
            app.secrets = [s for s in app.secrets if s.key_id != key_id]

    def set_redirect_uris(self, client_id: str, redirect_uris: list[str]) -> None:
        with self._world.lock:
            app = self._world.apps.get(client_id)
            if app is None:
                raise ControlError(f"no app {client_id!r}")
            app.redirect_uris = list(redirect_uris)

    # -- service behaviour switches -------------------------------------------------------------------
    def set_propagation_delay(self, seconds: float) -> None:
        self._world.settings.consent_propagation_s = float(seconds)

    def force_delta_reset(self, tenant: str) -> None:
        """The next delta call carrying a token for this tenant answers 410 Gone with a Location header."""
        with self._world.lock:
            self._tenant(tenant).delta_reset_pending = True

    def set_delta_duplicates(self, tenant: str, enabled: bool) -> None:
        with self._world.lock:
            self._tenant(tenant).delta_duplicates = bool(enabled)

    def set_delta_page_size(self, objects: int | None = None, links: int | None = None) -> None:
        with self._world.lock:
            if objects is not None:
                self._world.settings.delta_page_objects = max(1, int(objects))
            if links is not None:
                self._world.settings.delta_page_links = max(1, int(links))

    def set_delta_max_age(self, seconds: float) -> None:
        self._world.settings.delta_max_age_s = float(seconds)

    def set_consistency_lag(self, seconds: float, tenant: str | None = None) -> None:
        """Eventually consistent reads (ConsistencyLevel: eventual) and delta rounds take each write `seconds`
        after it was made (emulator clock); 0 (the default) turns the lag off. Changing it applies what is pending."""
        if float(seconds) < 0:
            raise ControlError("the lag cannot be negative")
        with self._world.lock:
            tenants = [self._tenant(tenant)] if tenant is not None else list(self._world.tenants.values())
            for t in tenants:
                t.replica.configure(t.directory, float(seconds), self._world.clock.now)

    def consistency(self, tenant: str) -> dict[str, float | int]:
        """The lag, the writes not yet applied, and the change sequence written and applied."""
        with self._world.lock:
            t = self._tenant(tenant)
            return t.replica.describe(t.directory)

    def reset_behaviour(self) -> None:
        """Back to defaults: no faults, no pending decisions or resets, default delta and consent settings, the
        browser signed out (each tenant's seeded admin signs in).

        Directory contents, consents, secrets and the clock are left as they are.
        """
        self._faults.clear()
        self._world.throttle.reset()
        self._notifier.clear()  # notification delay, retries, drops, allow_http (subscriptions are kept)
        with self._world.lock:
            self._world.settings = Settings()
            self._world.browser_user = None
            self._world.sign_in_sessions.clear()
            self._world.clock.freeze(False)
            for t in self._world.tenants.values():
                t.consent_decision = None
                t.delta_reset_pending = t.delta_duplicates = False
                t.password_reset_requires_role = True
                t.replica.configure(t.directory, 0.0, self._world.clock.now)

    def set_password_reset_requires_role(self, tenant: str, enabled: bool) -> None:
        with self._world.lock:
            self._tenant(tenant).password_reset_requires_role = bool(enabled)
