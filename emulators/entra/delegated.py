"""Delegated sign-in of a tenant's users: the tenant's user consent setting, delegated scopes an administrator
granted (for everyone) or a user consented to (for themselves), the consent answer the browser gives, the identity
claims of their ID tokens (email, groups with the overage form), and Graph's POST /users/{id}/checkMemberGroups.

Learn: "Configure how users consent to applications" (user consent allowed or not), "Overview of permissions and
consent in the Microsoft identity platform" (admin-consented delegated permissions, oauth2PermissionGrant
AllPrincipals / Principal), "Unexpected error when performing consent to an application" (AADSTS65001, AADSTS90094,
AADSTS65004), "ID token claims reference" (email, groups, _claim_names/_claim_sources above 200 groups),
"user: checkMemberGroups" (transitive, at most 20 group ids)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulators.entra import permissions as perm
from emulators.entra.errors import bad_request, not_found

if TYPE_CHECKING:
    from emulators.entra.calls import GraphCall, GraphResult
    from emulators.entra.model import App, User
    from emulators.entra.state import Tenant

USER_CONSENT = ("allowed", "disabled")
ANSWERS = ("accept", "cancel")
GROUPS_LIMIT = 200  # JWT: above this many groups the ID token carries the overage claim instead
CHECK_LIMIT = 20  # checkMemberGroups: at most 20 group ids per request
GRAPH_PREFIXES = (
    "https://graph.microsoft.com/",
    "https://graph.microsoft.us/",
    "https://microsoftgraph.chinacloudapi.cn/",
)


@dataclass
class DelegatedConsent:
    """One tenant's delegated consent: its setting, the grants, and the next consent answer (used once)."""

    user_consent: str = "allowed"  # allowed | disabled ("Do not allow user consent")
    granted: dict[str, set[str]] = field(default_factory=dict)  # client id -> scopes granted for all users
    user_grants: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (client id, user id) -> scopes
    next_answer: str | None = None  # "cancel": the user cancels at the consent prompt


def requested_scopes(scope: str) -> set[str]:
    """The delegated permissions a scope parameter asks for (Graph's resource prefix dropped; `.default` ignored)."""
    out = set()
    for item in scope.split():
        name = next((item[len(p) :] for p in GRAPH_PREFIXES if item.lower().startswith(p)), item)
        if name and name != ".default":
            out.add(name)
    return out


def consent_error(tenant: Tenant, app: App, user: User, scope: str, prompt: str | None) -> tuple[str, int, str] | None:
    """None when the user may go on (consenting now when the tenant lets users consent), else the error the
    authorization endpoint redirects with: (error, AADSTS number, description)."""
    consent = tenant.delegated
    if app.client_id not in tenant.service_principals and consent.user_consent == "disabled":
        # never consented in this tenant (or removed from it), and nobody but an administrator may consent
        return (
            "consent_required",
            65001,
            f"The user or administrator has not consented to use the application with ID '{app.client_id}' named "
            f"'{app.name}'. Send an interactive authorization request for this user and resource.",
        )
    wanted = requested_scopes(scope)
    have = consent.granted.get(app.client_id, set()) | consent.user_grants.get((app.client_id, user.id), set())
    missing = wanted - have
    if not missing:
        return None
    if prompt == "none":
        return (
            "consent_required",
            65001,
            f"The user or administrator has not consented to use the application with ID '{app.client_id}' named "
            f"'{app.name}'. Send an interactive authorization request for this user and resource.",
        )
    if consent.user_consent == "disabled":
        return (
            "consent_required",
            90094,
            f"The grant requires admin permission. An administrator of {tenant.display_name} has set a policy that "
            f"prevents you from granting {app.name} the permissions it is requesting.",
        )
    if consent.next_answer == "cancel":
        consent.next_answer = None
        return ("access_denied", 65004, "User declined to consent to access the app.")
    consent.user_grants.setdefault((app.client_id, user.id), set()).update(missing)
    return None


def transitive_groups(tenant: Tenant, user_id: str) -> list[str]:
    """Every group the user belongs to, nested included (sorted)."""
    directory = tenant.directory
    seen: set[str] = set()
    stack = list(directory.member_of.get(user_id, ()))
    while stack:
        gid = stack.pop()
        group = directory.groups.get(gid)
        if gid in seen or group is None or group.state != "active":
            continue
        seen.add(gid)
        stack.extend(directory.member_of.get(gid, ()))
    return sorted(seen)


def identity_claims(tenant: Tenant, app: App, user: User, scopes: list[str], graph_base: str) -> dict[str, Any]:
    """ID token claims about the signed-in user beyond the standard ones: `email` (with the email scope, when the
    user has a mail), `groups` (groupMembershipClaims SecurityGroup or All), or the overage claim above 200."""
    claims: dict[str, Any] = {}
    mail = user.props.get("mail")
    if "email" in scopes and mail:
        claims["email"] = mail
    if app.group_membership_claims not in ("SecurityGroup", "All"):
        return claims
    groups = transitive_groups(tenant, user.id)
    if app.group_membership_claims == "SecurityGroup":
        groups = [g for g in groups if tenant.directory.groups[g].props.get("securityEnabled")]
    if len(groups) > GROUPS_LIMIT:
        claims["_claim_names"] = {"groups": "src1"}
        claims["_claim_sources"] = {"src1": {"endpoint": f"{graph_base}/users/{user.id}/getMemberObjects"}}
    else:
        claims["groups"] = groups
    return claims


def check_member_groups(call: GraphCall, uid: str) -> GraphResult:
    """POST /users/{id}/checkMemberGroups {"groupIds": [...]}: which of these groups the user is in, transitively."""
    from emulators.entra.calls import ok

    if not call.roles & perm.READ_USERS or not call.roles & perm.READ_GROUPS:
        call.require(frozenset())  # 403 Authorization_RequestDenied
    user = call.tenant.directory.find_user(uid)
    if user is None or user.state != "active":
        raise not_found(uid)
    ids = call.json_body().get("groupIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request("The groupIds parameter must be a collection of strings.")
    if len(ids) > CHECK_LIMIT:
        raise bad_request(f"The groupIds collection can contain at most {CHECK_LIMIT} ids.")
    member = set(transitive_groups(call.tenant, user.id))
    found = [gid for gid in ids if gid.lower() in member]
    context = f"{call.base}/$metadata#Collection(Edm.String)"
    return ok(json.dumps({"@odata.context": context, "value": found}))


class DelegatedControl:
    """Control operations: the tenant's user consent setting, admin-granted delegated scopes, the next consent
    answer, and what is granted (SignInControlError for what cannot be done)."""

    OPERATIONS = frozenset(
        {"set_user_consent", "grant_delegated", "revoke_delegated", "set_consent_answer", "delegated_consent"}
    )
    _world: Any

    def _delegated_tenant(self, tenant: str) -> Tenant:
        from emulators.entra.control_signin import SignInControlError

        found = self._world.find_tenant(tenant)
        if found is None:
            raise SignInControlError(f"no tenant {tenant!r}")
        return found  # type: ignore[no-any-return]

    def set_user_consent(self, tenant: str, setting: str) -> None:
        """allowed: users consent to what is not granted yet; disabled: only an administrator can grant."""
        from emulators.entra.control_signin import SignInControlError

        if setting not in USER_CONSENT:
            raise SignInControlError(f"user consent must be one of {USER_CONSENT}")
        with self._world.lock:
            self._delegated_tenant(tenant).delegated.user_consent = setting

    def grant_delegated(self, tenant: str, client_id: str, scopes: list[str]) -> list[str]:
        """Admin consent for delegated scopes on behalf of every user of the tenant (AllPrincipals)."""
        with self._world.lock:
            granted = self._delegated_tenant(tenant).delegated.granted.setdefault(client_id, set())
            granted.update(requested_scopes(" ".join(scopes)))
            return sorted(granted)

    def revoke_delegated(self, tenant: str, client_id: str) -> None:
        """Remove the app's delegated grants in the tenant: the administrator's and every user's."""
        with self._world.lock:
            consent = self._delegated_tenant(tenant).delegated
            consent.granted.pop(client_id, None)
            for key in [k for k in consent.user_grants if k[0] == client_id]:
                del consent.user_grants[key]

    def set_consent_answer(self, tenant: str, answer: str) -> None:
        """The next consent prompt in this tenant is answered so (cancel: access_denied; used once)."""
        from emulators.entra.control_signin import SignInControlError

        if answer not in ANSWERS:
            raise SignInControlError(f"answer must be one of {ANSWERS}")
        with self._world.lock:
            self._delegated_tenant(tenant).delegated.next_answer = None if answer == "accept" else answer

    def delegated_consent(self, tenant: str) -> dict[str, Any]:
        with self._world.lock:
            consent = self._delegated_tenant(tenant).delegated
            return {
                "user_consent": consent.user_consent,
                "granted": {k: sorted(v) for k, v in consent.granted.items()},
                "user_grants": {f"{c}|{u}": sorted(v) for (c, u), v in consent.user_grants.items()},
            }
