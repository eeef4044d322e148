"""What a sync reads from Graph: the scope (transitive members of the sync group), user listings, delta rounds,
and users fetched by id through $batch. Knows Graph's URLs and limits; the GraphClient owns the HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from shared.adapters.graph import DeltaPage, GraphClient
from shared.domain.directory import GROUP_DELTA_SELECT, USER_ATTRIBUTES, USER_TYPE
from shared.errors import GraphError, GraphNotFound, GraphPermissionDenied

USER_SELECT = ",".join(USER_ATTRIBUTES)
EVENTUAL = {"ConsistencyLevel": "eventual"}
MAX_TOP = "999"
BATCH_LIMIT = 20


async def _ids(graph: GraphClient, path: str, params: dict[str, str], headers: dict[str, str], label: str) -> set[str]:
    ids: set[str] = set()
    async for page in graph.pages(path, params=params, headers=headers, label=label):
        ids.update(str(item["id"]) for item in page if "id" in item)
    return ids


def _transitive(sync_group_id: str, cast: str) -> tuple[str, dict[str, str]]:
    return (
        f"groups/{quote(sync_group_id)}/transitiveMembers/microsoft.graph.{cast}",
        {"$select": "id", "$top": MAX_TOP, "$count": "true"},
    )


async def scope_ids(graph: GraphClient, sync_group_id: str | None) -> set[str]:
    """Ids of the users in scope: transitive user members of the sync group, or every user."""
    if not sync_group_id:
        return await _ids(graph, "users", {"$select": "id", "$top": MAX_TOP}, {}, "scope.users")
    path, params = _transitive(sync_group_id, "user")
    return await _ids(graph, path, params, EVENTUAL, "scope.transitiveMembers")


async def scope_tree(graph: GraphClient, sync_group_id: str | None) -> frozenset[str]:
    """The sync group and every group nested in it (empty without a sync group: then nothing is a tree)."""
    if not sync_group_id:
        return frozenset()
    path, params = _transitive(sync_group_id, "group")
    return frozenset({sync_group_id} | await _ids(graph, path, params, EVENTUAL, "scope.tree"))


async def collect(pages: AsyncIterator[DeltaPage]) -> tuple[list[dict[str, Any]], str]:
    """A whole delta round in memory (incremental rounds are small) and its new deltaLink."""
    items: list[dict[str, Any]] = []
    link = ""
    async for page in pages:
        items += page.items
        link = page.delta_link or link
    return items, link


def user_listing(sync_group_id: str | None) -> tuple[str, dict[str, str], dict[str, str]]:
    """The first URL of a full user listing with every kept attribute, at the largest page size."""
    if sync_group_id:
        return (
            f"groups/{quote(sync_group_id)}/transitiveMembers/microsoft.graph.user",
            {"$select": USER_SELECT, "$top": MAX_TOP, "$count": "true"},
            EVENTUAL,
        )
    return "users", {"$select": USER_SELECT, "$top": MAX_TOP}, {}


async def latest_delta_link(graph: GraphClient, resource: str) -> str:
    """A deltaLink that starts tracking from now ($deltatoken=latest): taken BEFORE a snapshot listing, so any
    change made during the listing is replayed by the next incremental run (writes are idempotent)."""
    select = USER_SELECT if resource == "users" else ",".join(GROUP_DELTA_SELECT)
    params = {"$select": select, "$deltatoken": "latest"}
    async for page in graph.delta_pages(f"{resource}/delta", params=params, label=f"{resource}.delta"):
        if page.delta_link:
            return page.delta_link
    raise RuntimeError(f"{resource}/delta with $deltatoken=latest returned no deltaLink")


GROUP_SELECT = ",".join(g for g in GROUP_DELTA_SELECT if g != "members")


def group_listing(graph: GraphClient) -> AsyncIterator[list[dict[str, Any]]]:
    """Every group with its kept attributes, at the largest page size (a full run's groups, after the watermark).
    Read, like the members, from the eventually consistent index that the scope listing and delta rounds read."""
    params = {"$select": GROUP_SELECT, "$top": MAX_TOP}
    return graph.pages("groups", params=params, headers=EVENTUAL, label="groups.list")


async def member_user_ids(graph: GraphClient, group_id: str) -> set[str] | None:
    """Ids of the group's direct user members (every page); None when the group is gone (404). With
    `ConsistencyLevel: eventual`, so a full run's member lists are never ahead of the next delta rounds: a plain read
    showed a user's delete at once (its links left out) while the next users round, behind it, did not name the
    user, and its restore later looked like an update, whose links nobody read again."""
    path = f"groups/{quote(group_id)}/members"
    ids: set[str] = set()
    params = {"$select": "id", "$top": MAX_TOP}
    try:
        async for page in graph.pages(path, params=params, headers=EVENTUAL, label="groups.members"):
            ids.update(str(m["id"]) for m in page if "id" in m and m.get("@odata.type", USER_TYPE) == USER_TYPE)
    except GraphNotFound:
        return None
    return ids


def users_delta(graph: GraphClient, link: str) -> AsyncIterator[DeltaPage]:
    return graph.delta_pages(link, label="users.delta")


def groups_delta(graph: GraphClient, link: str | None) -> AsyncIterator[DeltaPage]:
    if link:
        return graph.delta_pages(link, label="groups.delta")
    return graph.delta_pages("groups/delta", params={"$select": ",".join(GROUP_DELTA_SELECT)}, label="groups.delta")


async def batch_get(
    graph: GraphClient, urls: list[str], *, label: str, headers: dict[str, str] | None = None
) -> dict[str, dict[str, Any] | None]:
    """GET many relative URLs through $batch (20 a request). Inner 429/503s are retried; 404 gives None."""
    results: dict[str, dict[str, Any] | None] = {}
    pending = list(dict.fromkeys(urls))
    attempt = 0
    while pending:
        attempt += 1
        retry: list[str] = []
        wait = 0.0
        for start in range(0, len(pending), BATCH_LIMIT):
            chunk = pending[start : start + BATCH_LIMIT]
            body = {
                "requests": [
                    {
                        "id": str(i),
                        "method": "GET",
                        "url": "/" + url.lstrip("/"),
                        **({"headers": headers} if headers else {}),
                    }
                    for i, url in enumerate(chunk)
                ]
            }
            response = await graph.request("POST", "$batch", body=body, label=label)
            for item in response.json().get("responses", []):
                url = chunk[int(item["id"])]
                status = int(item.get("status", 500))
                if status < 300:
                    results[url] = item.get("body") or {}
                elif status == 404:
                    results[url] = None
                elif status in (429, 500, 502, 503, 504) and attempt < 6:
                    graph.stats.throttled += status == 429  # inner 429s count in the run signals too
                    retry.append(url)
                    wait = max(wait, float((item.get("headers") or {}).get("Retry-After", 1)))
                else:
                    raise_for_inner(status, item)
        if retry:
            await graph.sleep(min(wait, 60.0))
        pending = retry
    return results


def raise_for_inner(status: int, item: dict[str, Any]) -> None:
    error = (item.get("body") or {}).get("error", {})
    message = f"Graph $batch item failed with {status} {error.get('code', '')}: {error.get('message', '')}"
    if status == 403:
        raise GraphPermissionDenied(message, status=status, graph_code=str(error.get("code", "")))
    raise GraphError(message, status=status, graph_code=str(error.get("code", "")))


async def users_by_id(graph: GraphClient, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    urls = {uid: f"users/{uid}?$select={USER_SELECT}" for uid in ids}
    fetched = await batch_get(graph, list(urls.values()), label="users.get")
    return {uid: fetched.get(url) for uid, url in urls.items()}


async def missing_users(graph: GraphClient, ids: list[str]) -> set[str]:
    """Which of these users Graph no longer has (404: soft- or hard-deleted), 20 per $batch request."""
    urls = {uid: f"users/{uid}?$select=id" for uid in ids}
    fetched = await batch_get(graph, list(urls.values()), label="users.exists")
    return {uid for uid, url in urls.items() if fetched.get(url) is None}


async def groups_of_users(graph: GraphClient, ids: list[str]) -> dict[str, list[dict[str, Any]] | None]:
    """Direct group memberships of each user (memberOf cast to groups), for users newly in scope; None for a user
    Graph no longer has (404: deleted since it was named), whose memberships are unknown, not empty."""
    out: dict[str, list[dict[str, Any]] | None] = {}
    urls = {
        uid: f"users/{uid}/memberOf/microsoft.graph.group?$select={GROUP_SELECT}&$top={MAX_TOP}&$count=true"
        for uid in ids
    }
    fetched = await batch_get(graph, list(urls.values()), label="users.memberOf", headers=EVENTUAL)
    for uid, url in urls.items():
        body = fetched.get(url)
        if body is None:
            out[uid] = None
            continue
        groups = list(body.get("value", []))
        next_link = body.get("@odata.nextLink")
        while next_link:
            data = await graph.get_json(next_link, headers=EVENTUAL, label="users.memberOf")
            groups += data.get("value", [])
            next_link = data.get("@odata.nextLink")
        out[uid] = groups
    return out
