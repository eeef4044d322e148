"""Graph v1.0 reads and writes on directory objects: organization, domains, users and groups (members: members.py)."""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from typing import Any

from emulators.entra import permissions as perm
from emulators.entra.calls import GraphCall, GraphResult, decode_token, encode_token, ok, page
from emulators.entra.directory import Directory
from emulators.entra.errors import bad_request, denied, not_found
from emulators.entra.model import (
    GROUP_DEFAULT_SELECT,
    USER_DEFAULT_SELECT,
    DirectoryObject,
    Group,
    User,
)
from emulators.entra.passwords import password_problem
from emulators.entra.query import is_advanced, is_eventual, parse_filter, select_of, top_of
from emulators.entra.reset_rights import may_reset

USER_PROPS = set(USER_DEFAULT_SELECT) | {
    "accountEnabled",
    "onPremisesSyncEnabled",
    "department",
    "userType",
    "mailNickname",
    "createdDateTime",
}
GROUP_PROPS = set(GROUP_DEFAULT_SELECT)
Member = User | Group | DirectoryObject
EDITABLE_USER_PROPS = {"displayName", "jobTitle", "department", "accountEnabled", "officeLocation", "mobilePhone"}


def object_json(obj: Member, select: tuple[str, ...] | None) -> str:
    """An object's JSON for a projection, cached on the object until it changes."""
    key = select or ()
    cached = obj.json_cache.get(key)
    if cached is None:
        props = obj.props
        if isinstance(obj, DirectoryObject):  # only the type's own properties: a device has no userPrincipalName
            body = {f: props[f] for f in (select or tuple(props)) if f in props}
        else:
            fields = select or (USER_DEFAULT_SELECT if isinstance(obj, User) else GROUP_DEFAULT_SELECT)
            body = {f: props.get(f) for f in fields if f != "members"}
        cached = json.dumps(body, ensure_ascii=False)
        obj.json_cache[key] = cached
    return cached


def read_view(call: GraphCall) -> Directory:
    """Reads with `ConsistencyLevel: eventual` (advanced queries: casts, $filter, $count) come from the index, which
    takes writes after the tenant's consistency lag; other reads see the directory itself."""
    if is_eventual(call.headers):
        return call.tenant.eventual(call.world.clock.now())
    return call.tenant.directory


def _context(call: GraphCall, entity: str, select: tuple[str, ...] | None) -> str:
    fields = f"({','.join(select)})" if select else ""
    return f"{call.base}/$metadata#{entity}{fields}"


def paged(
    call: GraphCall,
    path: str,
    ids: list[str],
    lookup: Callable[[str], str | None],
    entity: str,
    select: tuple[str, ...] | None,
    count: Callable[[], int] | None = None,
) -> GraphResult:
    """Page through id-sorted `ids`; `lookup` gives an item's JSON or None to skip it."""
    top = top_of(call.params)
    token = call.params.get("$skiptoken")
    start = bisect.bisect_right(ids, decode_token(token)) if token else 0
    items: list[str] = []
    last = ""
    more = False
    for index in range(start, len(ids)):
        item = lookup(ids[index])
        if item is None:
            continue
        if len(items) == top:
            more = True
            break
        items.append(item)
        last = ids[index]
    extra: dict[str, Any] = {}
    if count is not None:
        extra["@odata.count"] = count()
    if more:
        extra["@odata.nextLink"] = call.link(path, {"$skiptoken": encode_token(last)})
    return page(_context(call, entity, select), items, extra)


# -- organization and domains ----------------------------------------------------------------------
def organization(call: GraphCall) -> GraphResult:
    call.require(perm.READ_ORGANIZATION)
    tenant = call.tenant
    domains = [
        {
            "capabilities": "Email, OfficeCommunicationsOnlineBeta",
            "isDefault": i == 1,
            "isInitial": i == 0,
            "name": name,
            "type": "Managed",
        }
        for i, name in enumerate(tenant.domains)
    ]
    org = {
        "id": tenant.id,
        "displayName": tenant.display_name,
        "tenantType": "AAD",
        "countryLetterCode": "US",
        "createdDateTime": "2023-01-01T00:00:00Z",
        "verifiedDomains": domains,
        "onPremisesSyncEnabled": True,
    }
    return ok({"@odata.context": f"{call.base}/$metadata#organization", "value": [org]})


def domains(call: GraphCall) -> GraphResult:
    call.require(perm.READ_DOMAINS)
    rows = [
        {
            "id": name,
            "authenticationType": "Managed",
            "isDefault": i == 1,
            "isInitial": i == 0,
            "isRoot": True,
            "isVerified": True,
            "supportedServices": ["Email"] if i else [],
        }
        for i, name in enumerate(call.tenant.domains)
    ]
    return ok({"@odata.context": f"{call.base}/$metadata#domains", "value": rows})


# -- users -------------------------------------------------------------------------------------------
def filtered(call: GraphCall, known: set[str], resource: str) -> Callable[[dict[str, Any]], bool] | None:
    expr = call.params.get("$filter")
    advanced = is_advanced(call.headers, call.params)
    return parse_filter(expr, known, advanced=advanced, resource=resource) if expr else None


def list_users(call: GraphCall) -> GraphResult:
    call.require(perm.READ_USERS)
    directory = read_view(call)
    select = select_of(call.params, USER_PROPS, "user")
    match = filtered(call, USER_PROPS, "User")
    users = directory.users

    def lookup(uid: str) -> str | None:
        user = users[uid]
        if user.state != "active" or (match is not None and not match(user.props)):
            return None
        return object_json(user, select)

    count = None
    if is_advanced(call.headers, call.params):

        def count() -> int:
            return sum(1 for u in users.values() if u.state == "active" and (match is None or match(u.props)))

    return paged(call, "users", directory.user_ids, lookup, "users", select, count)


def get_user(call: GraphCall, key: str) -> GraphResult:
    call.require(perm.READ_USERS)
    user = call.tenant.directory.find_user(key)
    if user is None:
        raise not_found(key)
    select = select_of(call.params, USER_PROPS, "user")
    context = _context(call, "users", select) + "/$entity"
    return ok('{"@odata.context":' + json.dumps(context) + "," + object_json(user, select)[1:])


def update_user(call: GraphCall, key: str) -> GraphResult:
    directory = call.tenant.directory
    user = directory.find_user(key)
    body = {k: v for k, v in call.json_body().items() if not k.startswith("@")}  # the SDK sends @odata.type
    profile = body.pop("passwordProfile", None)
    unknown = set(body) - EDITABLE_USER_PROPS
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' cannot be updated by the emulator.", "BadRequest")
    if profile is not None and not call.roles & (perm.WRITE_PASSWORD | perm.WRITE_USERS):
        raise denied()
    if body:
        call.require(perm.WRITE_USERS)
    if user is None:
        raise not_found(key)
    if user.props.get("onPremisesSyncEnabled"):
        raise bad_request(
            "Unable to update the specified properties for on-premises mastered Directory Sync objects or "
            "objects currently undergoing migration."
        )
    if profile is not None:
        sp_roles = call.sp.directory_roles if call.sp else set()
        if not may_reset(call.roles, sp_roles, user.roles, role_required=call.tenant.password_reset_requires_role):
            raise denied()
        password = profile.get("password") if isinstance(profile, dict) else None
        if not isinstance(password, str):
            raise bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'.")
        problem = password_problem(password)
        if problem is not None:
            raise bad_request(problem)
        directory.set_password(user, password)
    if body:
        directory.update_user(user, body)
    return GraphResult(204)


# -- groups ------------------------------------------------------------------------------------------
def list_groups(call: GraphCall) -> GraphResult:
    call.require(perm.READ_GROUPS)
    directory = read_view(call)
    select = select_of(call.params, GROUP_PROPS, "group")
    match = filtered(call, GROUP_PROPS, "Group")
    groups = directory.groups

    def lookup(gid: str) -> str | None:
        group = groups[gid]
        if group.state != "active" or (match is not None and not match(group.props)):
            return None
        return object_json(group, select)

    count = None
    if is_advanced(call.headers, call.params):

        def count() -> int:
            return sum(1 for g in groups.values() if g.state == "active" and (match is None or match(g.props)))

    return paged(call, "groups", directory.group_ids, lookup, "groups", select, count)


def get_group(call: GraphCall, gid: str) -> GraphResult:
    call.require(perm.READ_GROUPS)
    group = call.tenant.directory.find_group(gid)
    if group is None:
        raise not_found(gid)
    select = select_of(call.params, GROUP_PROPS, "group")
    context = _context(call, "groups", select) + "/$entity"
    return ok('{"@odata.context":' + json.dumps(context) + "," + object_json(group, select)[1:])
