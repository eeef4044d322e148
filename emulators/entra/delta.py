"""users/delta and groups/delta: rounds of pages over the change sequence, with opaque next and delta links."""

from __future__ import annotations

import bisect
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from emulators.entra import permissions as perm
from emulators.entra.calls import GraphCall, GraphResult, decode_token, encode_token, page
from emulators.entra.directory import Directory
from emulators.entra.errors import GraphError, bad_request
from emulators.entra.model import USER_DEFAULT_SELECT, Group, User
from emulators.entra.query import delta_filter_ids, reject_delta_options, select_of
from emulators.entra.resources import GROUP_PROPS, USER_PROPS, object_json

Resource = Literal["users", "groups"]
HIGH = "\U0010ffff"


@dataclass
class DeltaState:
    """What a next/delta link carries (base64 JSON): the query, the watermark and where the page stopped."""

    r: Resource
    t: str  # tenant id
    s: list[str] | None  # $select of the first call
    f: list[str] | None  # ids of `$filter=id eq ...`
    w: int  # report changes after this sequence; -1 for the first (full) round
    n: int  # the watermark the round's deltaLink will carry
    i: float  # issue time, emulator clock
    c: str = ""  # last object id served
    lk: list[Any] | None = field(default=None)  # (seq, member id) of the last link served of group `c`


def handle_delta(call: GraphCall, resource: Resource) -> GraphResult:
    call.require(perm.READ_USERS if resource == "users" else perm.READ_GROUPS)
    tenant = call.tenant
    world = call.world
    now = world.clock.now()
    directory = tenant.eventual(now)  # delta reads the eventually consistent copy: its sequence is what is applied
    token = call.params.get("$skiptoken") or call.params.get("$deltatoken")
    if token is not None and token != "latest":
        state = DeltaState(**decode_token(token))
        if state.r != resource or state.t != tenant.id:
            raise bad_request("The delta token was issued for another resource or tenant.")
        if tenant.delta_reset_pending:
            tenant.delta_reset_pending = False
            location = call.link(f"{resource}/delta", _first_call_params(state), drop=tuple(call.params))
            raise GraphError(
                410,
                "resyncRequired",
                "Resync required. Replace any local cached copies of the directory data with a full sync "
                "starting from the Location header.",
                {"Location": location},
            )
        if now - state.i > world.settings.delta_max_age_s:
            raise GraphError(
                400,
                "syncStateNotFound",
                "The sync state for the provided delta token was not found: the token has expired. Start a new "
                "full synchronization.",
            )
        state.i = now if "$deltatoken" in call.params else state.i
        if "$deltatoken" in call.params:  # a new round starts: it will end on today's watermark
            state.n = directory.seq
            state.c, state.lk = "", None
    else:
        reject_delta_options(call.params)
        known = USER_PROPS if resource == "users" else GROUP_PROPS | {"members"}
        select = select_of(call.params, known, resource[:-1])
        expr = call.params.get("$filter")
        ids = sorted(set(delta_filter_ids(expr))) if expr else None
        seq = directory.seq
        state = DeltaState(r=resource, t=tenant.id, s=list(select) if select else None, f=ids, w=-1, n=seq, i=now)
        if token == "latest":
            state.w = seq
            return _respond(call, state, [], done=True)
    if resource == "users":
        minimal = "return=minimal" in _preferences(call)
        items, done = _user_page(directory, state, world.settings.delta_page_objects, minimal)
    else:
        items, done = _group_page(directory, state, world.settings.delta_page_objects, world.settings.delta_page_links)
    if tenant.delta_duplicates and items:
        items.append(items[0])
    return _respond(call, state, items, done)


def _first_call_params(state: DeltaState) -> dict[str, str]:
    params: dict[str, str] = {}
    if state.s:
        params["$select"] = ",".join(state.s)
    if state.f:
        params["$filter"] = " or ".join(f"id eq '{i}'" for i in state.f)
    return params


def _respond(call: GraphCall, state: DeltaState, items: list[str], done: bool) -> GraphResult:
    path = f"{state.r}/delta"
    if done:
        now = call.world.clock.now()
        final = DeltaState(r=state.r, t=state.t, s=state.s, f=state.f, w=state.n, n=state.n, i=now)
        extra = {"@odata.deltaLink": call.link(path, {"$deltatoken": encode_token(asdict(final))}, tuple(call.params))}
    else:
        extra = {"@odata.nextLink": call.link(path, {"$skiptoken": encode_token(asdict(state))}, tuple(call.params))}
    context = f"{call.base}/$metadata#{state.r}" + (f"({','.join(state.s)})" if state.s else "")
    return page(context, items, extra)


def _candidates(ids_all: list[str], log: list[tuple[int, str]], state: DeltaState) -> list[str]:
    if state.f is not None:
        return state.f
    if state.w < 0:
        return ids_all
    start = bisect.bisect_right(log, (state.w, HIGH))
    return sorted({oid for _, oid in log[start:]})


def _removed(oid: str, hard: bool) -> str:
    return json.dumps({"id": oid, "@removed": {"reason": "deleted" if hard else "changed"}})


def _entry(obj: User | Group, state: DeltaState) -> str | None:
    """An object's delta entry, or None when this round does not report it."""
    if state.w < 0:
        if obj.state == "hard_deleted":
            return None
    elif obj.seq <= state.w:
        return None
    if obj.state == "active":
        if isinstance(obj, User):
            return delta_user_json(obj, tuple(state.s) if state.s else USER_DEFAULT_SELECT)
        return object_json(obj, tuple(state.s) if state.s else None)
    return _removed(obj.id, obj.state == "hard_deleted")


def _preferences(call: GraphCall) -> set[str]:
    return {p.strip().lower().replace(" ", "") for p in call.headers.get("Prefer", "").split(",") if p.strip()}


def _user_entry(user: User, state: DeltaState, minimal: bool) -> str | None:
    """What users/delta reports of a user (Learn: "user: delta", response): in a later round only a change of a
    selected property or of the user's life (created, deleted, restored); properties never set are left out, a
    property set to null is null; with `Prefer: return=minimal` only the properties that changed."""
    if state.w < 0 or user.state != "active" or user.seq <= state.w:
        return _entry(user, state)
    fields = tuple(state.s) if state.s else USER_DEFAULT_SELECT
    if user.life_seq > state.w:
        return delta_user_json(user, fields)
    changed = tuple(f for f in fields if user.prop_seq.get(f, 0) > state.w)
    if not changed:
        return None  # a password reset, or a change of a property the round does not select
    return delta_user_json(user, changed if minimal else fields)


def delta_user_json(user: User, fields: tuple[str, ...]) -> str:
    """The user with `fields` that were ever set (cached like object_json until the user changes)."""
    key = ("@delta", *fields)
    cached = user.json_cache.get(key)
    if cached is None:
        body = {"id": user.id} | {f: user.props.get(f) for f in fields if f != "id" and f in user.prop_seq}
        cached = user.json_cache[key] = json.dumps(body, ensure_ascii=False)
    return cached


def _user_page(directory: Directory, state: DeltaState, limit: int, minimal: bool) -> tuple[list[str], bool]:
    ids = _candidates(directory.user_ids, directory.user_log, state)
    items: list[str] = []
    index = bisect.bisect_right(ids, state.c) if state.c else 0
    while index < len(ids) and len(items) < limit:
        user = directory.users.get(ids[index])
        entry = _user_entry(user, state, minimal) if user is not None else None
        if entry is not None:
            items.append(entry)
        state.c = ids[index]
        index += 1
    return items, index >= len(ids)


def _group_page(directory: Directory, state: DeltaState, limit: int, link_limit: int) -> tuple[list[str], bool]:
    tracks_members = state.s is not None and "members" in state.s
    select = tuple(state.s) if state.s else None
    ids = _candidates(directory.group_ids, directory.group_log, state)
    items: list[str] = []
    links_left = link_limit
    resume = state.lk
    index = bisect.bisect_left(ids, state.c) if resume else (bisect.bisect_right(ids, state.c) if state.c else 0)
    while index < len(ids) and len(items) < limit and links_left > 0:
        group = directory.groups.get(ids[index])
        if group is None:
            index += 1
            continue
        if group.state != "active":
            removed = _entry(group, state)
            if removed is not None:
                items.append(removed)
            state.c, state.lk = group.id, None
            index += 1
            continue
        if state.w >= 0 and (group.seq if tracks_members else group.props_seq) <= state.w:
            state.c, state.lk = group.id, None
            index += 1
            continue
        body: dict[str, Any] = json.loads(object_json(group, select))
        if tracks_members:
            links = directory.links_by_seq(group)
            start = bisect.bisect_right(links, (*resume, HIGH)) if resume else 0
            if state.w >= 0:
                start = max(start, bisect.bisect_right(links, (state.w, HIGH)))
            chunk: list[dict[str, Any]] = []
            position = start
            while position < len(links) and len(chunk) < links_left:
                seq, mid, kind, alive = links[position]
                position += 1
                if state.w < 0 and not alive:
                    continue
                if alive and kind == "user" and directory.users[mid].state != "active":
                    continue  # a soft-deleted user keeps its links, and group delta never shows them
                entry: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": mid}
                if not alive:
                    entry["@removed"] = {"reason": "deleted"}
                chunk.append(entry)
            body["members@delta"] = chunk
            links_left -= len(chunk)
            items.append(json.dumps(body, ensure_ascii=False))
            if position < len(links):  # the group continues on the next page
                seq, mid, _, _ = links[position - 1]
                state.c, state.lk = group.id, [seq, mid]
                resume = None
                return items, False
        else:
            items.append(json.dumps(body, ensure_ascii=False))
        state.c, state.lk = group.id, None
        resume = None
        index += 1
    return items, index >= len(ids)
