"""Group members, transitive members and users' memberOf: every directory object type with its @odata.type.

Learn: "List group members" and "List group transitive members" (members are users, groups, devices, service
principals and organizational contacts, each typed; casting to one type is an advanced query), "List a user's
direct memberships"."""

from __future__ import annotations

from emulators.entra import permissions as perm
from emulators.entra.calls import GraphCall, GraphResult
from emulators.entra.errors import GraphError, not_found, unsupported
from emulators.entra.model import OTHER_KINDS, DirectoryObject, User
from emulators.entra.query import is_advanced, select_of
from emulators.entra.resources import GROUP_PROPS, USER_PROPS, Member, filtered, object_json, paged, read_view

USER_TYPE = '{"@odata.type":"#microsoft.graph.user",'
GROUP_TYPE = '{"@odata.type":"#microsoft.graph.group",'
# Properties of the other member types (device, servicePrincipal, orgContact) the emulator keeps.
OBJECT_PROPS = {
    "accountEnabled", "appDisplayName", "appId", "companyName", "deviceId", "displayName", "givenName", "mail",
    "mailNickname", "operatingSystem", "operatingSystemVersion", "servicePrincipalType", "surname", "trustType",
}  # fmt: skip
MEMBER_PROPS = USER_PROPS | GROUP_PROPS | OBJECT_PROPS
MEMBER_CASTS = {f"microsoft.graph.{kind}": kind for kind in ("user", "group", *OTHER_KINDS)}
CAST_ENTITY = {"user": "users", "group": "groups", "device": "devices", "servicePrincipal": "servicePrincipals",
               "orgContact": "contacts"}  # fmt: skip


def kind_of(obj: Member) -> str:
    return obj.kind if isinstance(obj, DirectoryObject) else "user" if isinstance(obj, User) else "group"


def typed_json(obj: Member, select: tuple[str, ...] | None) -> str:
    body = object_json(obj, select)
    if isinstance(obj, DirectoryObject):
        return f'{{"@odata.type":"#microsoft.graph.{obj.kind}",' + body[1:]
    return (USER_TYPE if isinstance(obj, User) else GROUP_TYPE) + body[1:]


def list_members(call: GraphCall, gid: str, transitive: bool, cast: str | None) -> GraphResult:
    call.require(perm.READ_GROUPS)
    directory = read_view(call)
    group = directory.find_group(gid)
    if group is None:
        raise not_found(gid)
    advanced = is_advanced(call.headers, call.params)
    if cast is not None and cast not in MEMBER_CASTS:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{cast}'.")
    if (cast or "$filter" in call.params) and not advanced:
        raise unsupported(
            "The OData cast and $filter on (transitive) members are advanced queries: send the "
            "'ConsistencyLevel: eventual' header and $count=true."
        )
    select = select_of(call.params, MEMBER_PROPS, "directoryObject")
    ids = directory.transitive_all(gid) if transitive else directory.members_by_id(group)
    match = filtered(call, MEMBER_PROPS, "DirectoryObject")
    wanted = MEMBER_CASTS[cast] if cast else None
    users, groups, objects = directory.users, directory.groups, directory.objects

    def lookup(mid: str) -> str | None:
        obj: Member | None = users.get(mid) or groups.get(mid) or objects.get(mid)
        if obj is None or obj.state != "active" or (wanted is not None and kind_of(obj) != wanted):
            return None
        if match is not None and not match(obj.props):
            return None
        return typed_json(obj, select)

    count = None
    if advanced:

        def count() -> int:
            return sum(1 for mid in ids if lookup(mid) is not None)

    segment = "transitiveMembers" if transitive else "members"
    path = f"groups/{gid}/{segment}" + (f"/{cast}" if cast else "")
    entity = CAST_ENTITY[wanted] if wanted else "directoryObjects"
    return paged(call, path, ids, lookup, entity, select, count)


def list_member_of(call: GraphCall, uid: str, cast: str | None) -> GraphResult:
    """GET /users/{id}/memberOf[/microsoft.graph.group]: the groups the user is a direct member of."""
    call.require(perm.READ_GROUPS)
    directory = read_view(call)
    user = directory.find_user(uid)
    if user is None:
        raise not_found(uid)
    if cast is not None and cast != "microsoft.graph.group":
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{cast}'.")
    if (cast or "$filter" in call.params) and not is_advanced(call.headers, call.params):
        raise unsupported(
            "The OData cast and $filter on memberOf are advanced queries: send the "
            "'ConsistencyLevel: eventual' header and $count=true."
        )
    select = select_of(call.params, GROUP_PROPS, "directoryObject")
    ids = sorted(directory.member_of.get(user.id, set()))

    def lookup(gid: str) -> str | None:
        group = directory.groups.get(gid)
        if group is None or group.state != "active":
            return None
        return typed_json(group, select)

    path = f"users/{uid}/memberOf" + (f"/{cast}" if cast else "")
    return paged(call, path, ids, lookup, "directoryObjects", select, None)
