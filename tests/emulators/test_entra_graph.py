"""Graph v1.0 reads, auth errors, advanced queries, $batch and injected faults, mostly through msgraph-sdk."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, token_for

NO_RETRY = [RetryHandlerOption(delay=0, max_retries=0)]


def _active_users(entra: EntraEmulator, tenant_id: str) -> dict[str, Any]:
    users = entra.world.tenants[tenant_id].directory.users
    return {uid: u for uid, u in users.items() if u.state == "active"}


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert {"request-id", "date", "client-request-id"} <= set(error["innerError"])
    return error


async def test_sdk_lists_all_users_across_pages(entra: EntraEmulator, tenant: dict[str, Any], graph: Any) -> None:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        top=7, select=["id", "displayName", "userPrincipalName", "accountEnabled"]
    )
    result = await graph.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    seen = [u.id for u in result.value]
    pages = 1
    while result.odata_next_link:
        assert result.odata_next_link.startswith(entra.graph_url + "/users?")
        assert len(result.value) == 7
        result = await graph.users.with_url(result.odata_next_link).get()
        seen += [u.id for u in result.value]
        pages += 1
    expected = _active_users(entra, tenant["id"])
    assert sorted(seen) == sorted(expected)
    assert pages == -(-len(expected) // 7)


async def test_select_filter_and_unicode(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    headers = {"Authorization": f"Bearer {graph_token}"}
    response = await http.get(
        "/v1.0/users",
        params={"$select": "id,displayName,accountEnabled", "$filter": "accountEnabled eq false"},
        headers=headers,
    )
    assert response.status_code == 200
    rows = response.json()["value"]
    expected = {uid for uid, u in _active_users(entra, tenant["id"]).items() if u.props["accountEnabled"] is False}
    assert {r["id"] for r in rows} == expected and expected
    assert all(set(r) == {"id", "displayName", "accountEnabled"} for r in rows)
    names = [u.props["displayName"] for u in _active_users(entra, tenant["id"]).values()]
    assert any(not n.isascii() for n in names)  # the seed has accented and CJK names
    user = next(iter(_active_users(entra, tenant["id"]).values()))
    by_upn = await http.get(f"/v1.0/users/{user.props['userPrincipalName']}", headers=headers)
    assert by_upn.json()["id"] == user.id
    assert by_upn.json()["displayName"] == user.props["displayName"]
    filtered = await http.get(
        "/v1.0/users", params={"$filter": f"userPrincipalName eq '{user.props['userPrincipalName']}'"}, headers=headers
    )
    assert [r["id"] for r in filtered.json()["value"]] == [user.id]
    _error(
        await http.get("/v1.0/users/00000000-0000-0000-0000-000000000000", headers=headers),
        404,
        "Request_ResourceNotFound",
    )
    _error(await http.get("/v1.0/users", params={"$select": "nope"}, headers=headers), 400, "BadRequest")


async def test_top_over_999_is_rejected(http: httpx.AsyncClient, graph_token: str, graph: Any) -> None:
    error = _error(
        await http.get("/v1.0/users", params={"$top": "1000"}, headers={"Authorization": f"Bearer {graph_token}"}),
        400,
        "Request_UnsupportedQuery",
    )
    assert "between 1 and 999" in error["message"]
    ok = await http.get("/v1.0/users", params={"$top": "999"}, headers={"Authorization": f"Bearer {graph_token}"})
    assert ok.status_code == 200
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=1000)
    with pytest.raises(ODataError) as caught:
        await graph.users.get(request_configuration=RequestConfiguration(query_parameters=query, options=NO_RETRY))
    assert caught.value.response_status_code == 400
    assert caught.value.error.code == "Request_UnsupportedQuery"


async def test_missing_or_bad_token_is_401(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    _error(await http.get("/v1.0/users"), 401, "InvalidAuthenticationToken")
    _error(
        await http.get("/v1.0/users", headers={"Authorization": "Bearer not.a.jwt"}), 401, "InvalidAuthenticationToken"
    )
    vault = await token_for(
        http, tenant["id"], customer_app["client_id"], customer_app["client_secret"], "https://vault.azure.net/.default"
    )
    response = await http.get("/v1.0/users", headers={"Authorization": f"Bearer {vault}"})
    _error(response, 401, "InvalidAuthenticationToken")
    assert "WWW-Authenticate" in response.headers


async def test_missing_role_is_403(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    identity = app_of(tenant, "connector_identity")
    bare = await token_for(http, tenant["id"], identity["client_id"], identity["client_secret"])
    for path in ("/v1.0/users", "/v1.0/groups", "/v1.0/users/delta"):
        error = _error(
            await http.get(path, headers={"Authorization": f"Bearer {bare}"}), 403, "Authorization_RequestDenied"
        )
        assert error["message"] == "Insufficient privileges to complete the operation."
    # The customer app reads users and groups but holds no Organization/Domain permission.
    _error(
        await http.get("/v1.0/organization", headers={"Authorization": f"Bearer {graph_token}"}),
        403,
        "Authorization_RequestDenied",
    )
    entra.control.grant_permissions(tenant["id"], identity["client_id"], ["Directory.Read.All"])
    try:
        granted = await token_for(http, tenant["id"], identity["client_id"], identity["client_secret"])
        org = await http.get("/v1.0/organization", headers={"Authorization": f"Bearer {granted}"})
        assert org.json()["value"][0]["id"] == tenant["id"]
        domains = await http.get("/v1.0/domains", headers={"Authorization": f"Bearer {granted}"})
        assert [d["id"] for d in domains.json()["value"]] == tenant["domains"]
    finally:
        entra.control.revoke_permissions(tenant["id"], identity["client_id"], ["Directory.Read.All"])


async def test_transitive_members_need_advanced_query_for_cast(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    sync_id = tenant["sync_group"]["id"]
    cast = f"/v1.0/groups/{sync_id}/transitiveMembers/microsoft.graph.user"
    _error(await http.get(cast, headers=auth), 400, "Request_UnsupportedQuery")
    _error(await http.get(cast, params={"$count": "true"}, headers=auth), 400, "Request_UnsupportedQuery")
    _error(
        await http.get(
            f"/v1.0/groups/{sync_id}/transitiveMembers", params={"$filter": "accountEnabled eq true"}, headers=auth
        ),
        400,
        "Request_UnsupportedQuery",
    )
    advanced = {**auth, "ConsistencyLevel": "eventual"}
    ids: list[str] = []
    url: str | None = f"{cast}?$count=true&$top=20&$select=id,displayName"
    count = None
    while url:
        page = (await http.get(url, headers=advanced)).json()
        count = page.get("@odata.count", count)
        assert all(row["@odata.type"] == "#microsoft.graph.user" for row in page["value"])
        ids += [row["id"] for row in page["value"]]
        url = page.get("@odata.nextLink")
    truth = entra.control.ground_truth(tenant["id"], sync_id)
    assert sorted(ids) == sorted(truth["users"])
    assert count == len(truth["users"])
    direct = (await http.get(f"/v1.0/groups/{sync_id}/members", params={"$top": "999"}, headers=auth)).json()["value"]
    direct_users = {row["id"] for row in direct if row["@odata.type"] == "#microsoft.graph.user"}
    assert any(row["@odata.type"] == "#microsoft.graph.group" for row in direct)
    assert direct_users < set(ids)  # some users are reachable only through nested groups
    everything = (
        await http.get(f"/v1.0/groups/{sync_id}/transitiveMembers", params={"$top": "999"}, headers=auth)
    ).json()
    assert sum(row["@odata.type"] == "#microsoft.graph.group" for row in everything["value"]) == 5


async def test_batch_limits_and_inner_throttling(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    users = list(_active_users(entra, tenant["id"]))[:3]
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": f"/users/{users[0]}"} for i in range(21)]}
    error = _error(await http.post("/v1.0/$batch", json=too_many, headers=auth), 400, "BadRequest")
    assert "20" in error["message"]
    entra.control.set_fault("429", nth=2, count=1, endpoint="users.get", retry_after=7)
    batch = {
        "requests": [{"id": str(i), "method": "GET", "url": f"/users/{uid}?$select=id"} for i, uid in enumerate(users)]
    }
    response = await http.post("/v1.0/$batch", json=batch, headers=auth)
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    statuses = sorted(r["status"] for r in answers.values())
    assert statuses == [200, 200, 429]
    throttled = next(r for r in answers.values() if r["status"] == 429)
    assert throttled["headers"]["Retry-After"] == "7"
    assert throttled["body"]["error"]["code"] == "TooManyRequests"
    assert {answers[str(i)]["body"]["id"] for i in range(3) if answers[str(i)]["status"] == 200} < set(users)


async def test_sdk_retries_after_429_and_counters_show_it(entra: EntraEmulator, graph: Any) -> None:
    entra.control.counters(reset=True)
    entra.control.set_fault("429", nth=1, count=1, endpoint="users.list", retry_after=1)
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=5)
    result = await graph.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    assert len(result.value) == 5
    assert entra.control.counters()["users.list"] == 2


async def test_503_504_drop_and_latency_faults(
    entra: EntraEmulator, http: httpx.AsyncClient, graph_token: str, graph: Any
) -> None:
    entra.control.set_fault("503", nth=1, count=1, path_prefix="/v1.0/users")
    with pytest.raises(ODataError) as caught:
        await graph.users.get(request_configuration=RequestConfiguration(options=NO_RETRY))
    assert caught.value.response_status_code == 503
    entra.control.set_fault("504", nth=1, count=1, endpoint="groups.list")
    response = await http.get("/v1.0/groups", headers={"Authorization": f"Bearer {graph_token}"})
    assert response.status_code == 504
    entra.control.set_fault("drop", nth=1, count=1, endpoint="domains")
    with pytest.raises(httpx.TransportError):
        await http.get("/v1.0/domains", headers={"Authorization": f"Bearer {graph_token}"})
    entra.control.set_fault("latency", rate=1.0, count=1, latency_ms=150, endpoint="groups.list")
    response = await http.get("/v1.0/groups", headers={"Authorization": f"Bearer {graph_token}"})
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.15
    entra.control.set_fault("429", rate=0.5, endpoint="groups.list", retry_after=None)
    statuses = [
        (await http.get("/v1.0/groups", headers={"Authorization": f"Bearer {graph_token}"})).status_code
        for _ in range(20)
    ]
    assert 0 < statuses.count(429) < 20
    assert set(statuses) == {200, 429}


async def test_unknown_segment_and_paths_with_double_slashes(http: httpx.AsyncClient, graph_token: str) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    _error(await http.get("/v1.0/nothing-here", headers=auth), 400, "BadRequest")
    response = await http.get("/v1.0//users", params={"$top": "2"}, headers=auth)
    assert response.status_code == 200
    assert len(response.json()["value"]) == 2


# -- $batch as documented (Learn: "Combine multiple HTTP requests using JSON batching") ------------------
def _cloud_user(entra: EntraEmulator, tenant_id: str) -> str:
    """A user whose password the customer app may reset (cloud-only, not privileged)."""
    return next(
        uid
        for uid, u in sorted(_active_users(entra, tenant_id).items())
        if not u.props.get("onPremisesSyncEnabled") and not u.roles
    )


async def test_batch_depends_on_orders_requests_and_fails_dependents_with_424(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    uid = _cloud_user(entra, tenant["id"])

    def patch(password: str) -> dict[str, Any]:
        return {
            "method": "PATCH",
            "url": f"/users/{uid}",
            "headers": {"Content-Type": "application/json"},
            "body": {"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False}},
        }

    # "second" comes first in the array but depends on "first": it runs after it, so its password is the one left.
    # "third" depends on the failed "bad" (a weak password, 400): 424 and never run.
    batch = {
        "requests": [
            {"id": "second", "dependsOn": ["FIRST"], **patch("Batch-Order-7x!Quartz-Second")},  # ids: any case
            {"id": "first", **patch("Batch-Order-7x!Quartz-First")},
            {"id": "bad", **patch("weak")},
            {"id": "third", "dependsOn": ["bad"], "method": "GET", "url": f"/users/{uid}?$select=id"},
            {"id": "fourth", "dependsOn": ["first"], "method": "GET", "url": f"/users/{uid}?$select=id"},
        ]
    }
    entra.control.counters(reset=True)
    response = await http.post("/v1.0/$batch", json=batch, headers=auth)
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    statuses = {k: v["status"] for k, v in answers.items()}
    assert statuses == {"first": 204, "second": 204, "bad": 400, "third": 424, "fourth": 200}
    assert answers["third"]["body"]["error"]["code"] == "FailedDependency"
    assert entra.control.get_password(tenant["id"], uid) == "Batch-Order-7x!Quartz-Second"
    counters = entra.control.counters()
    assert (counters["users.update"], counters["users.get"]) == (3, 1)  # the 424 request was not run


@pytest.mark.parametrize(
    ("requests", "why"),
    [
        (
            [{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/groups"}],
            "more than once",
        ),
        ([{"id": 1, "method": "GET", "url": "/users"}], "non-empty string"),
        ([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}], "not on another request"),
        ([{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["1"]}], "not on another request"),
        (
            [
                {"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
                {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]},
            ],
            "cycle",
        ),
        ([{"id": "1", "method": "PATCH", "url": "/users/x", "body": {"jobTitle": "x"}}], "no Content-Type"),
    ],
)
async def test_malformed_batches_are_400_and_run_nothing(
    entra: EntraEmulator, http: httpx.AsyncClient, graph_token: str, requests: list[Any], why: str
) -> None:
    entra.control.counters(reset=True)
    response = await http.post(
        "/v1.0/$batch", json={"requests": requests}, headers={"Authorization": f"Bearer {graph_token}"}
    )
    assert why in _error(response, 400, "BadRequest")["message"]
    assert set(entra.control.counters()) == {"batch"}


async def test_batch_responses_come_in_a_seeded_shuffled_order() -> None:
    from tests.support.entra import start_entra

    orders = []
    for _ in range(2):
        with start_entra(seed="batch-order", size=25, tenants=1) as emulator:
            tenant = emulator.tenants[0]
            app = app_of(tenant, "customer")
            verify = ssl.create_default_context(cafile=emulator.ca_path)
            async with httpx.AsyncClient(verify=verify, base_url=emulator.login_url) as client:
                token = await token_for(client, tenant["id"], app["client_id"], app["client_secret"])
                uids = sorted(_active_users(emulator, tenant["id"]))[:20]
                batch = {
                    "requests": [{"id": str(i), "method": "GET", "url": f"/users/{u}"} for i, u in enumerate(uids)]
                }
                response = await client.post("/v1.0/$batch", json=batch, headers={"Authorization": f"Bearer {token}"})
            ids = [r["id"] for r in response.json()["responses"]]
            assert sorted(ids, key=int) == [str(i) for i in range(20)]
            assert ids != sorted(ids, key=int)  # not in request order...
            orders.append(ids)
    assert orders[0] == orders[1]  # ...but the same order for the same seed


# -- $filter limits (Learn: "Advanced query capabilities on Microsoft Entra ID objects"; known issues) ----------
async def test_in_takes_15_values_unless_the_query_is_advanced(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    ids = sorted(_active_users(entra, tenant["id"]))[:16]

    def expr(n: int) -> str:
        return "id in (" + ",".join(f"'{i}'" for i in ids[:n]) + ")"

    fifteen = await http.get("/v1.0/users", params={"$filter": expr(15), "$select": "id"}, headers=auth)
    assert sorted(r["id"] for r in fifteen.json()["value"]) == ids[:15]
    error = _error(
        await http.get("/v1.0/users", params={"$filter": expr(16)}, headers=auth), 400, "Request_UnsupportedQuery"
    )
    assert error["message"].endswith("containing 'OR' operators: 16. Max allowed: 15.")
    advanced = await http.get(
        "/v1.0/users",
        params={"$filter": expr(16), "$count": "true", "$select": "id"},
        headers={**auth, "ConsistencyLevel": "eventual"},
    )
    assert advanced.json()["@odata.count"] == 16


async def test_ne_needs_an_advanced_query_through_the_sdk(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any
) -> None:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="accountEnabled ne true", select=["id"], top=999
    )
    with pytest.raises(ODataError) as caught:
        await graph.users.get(request_configuration=RequestConfiguration(query_parameters=query, options=NO_RETRY))
    assert caught.value.response_status_code == 400
    assert caught.value.error.code == "Request_UnsupportedQuery"
    assert caught.value.error.message.startswith("Operator 'ne' is not supported because the required parameters")
    query.count = True
    config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
    with pytest.raises(ODataError):  # $count=true alone is not enough: the header is needed too
        await graph.users.get(request_configuration=RequestConfiguration(query_parameters=query, options=NO_RETRY))
    config.headers.add("ConsistencyLevel", "eventual")
    result = await graph.users.get(request_configuration=config)
    disabled = {uid for uid, u in _active_users(entra, tenant["id"]).items() if u.props["accountEnabled"] is False}
    assert {u.id for u in result.value} == disabled and disabled
    assert result.odata_count == len(disabled)


@pytest.mark.parametrize(
    ("expression", "operator"),
    [("not startsWith(displayName,'A')", "not"), ("endsWith(mail,'.example.com')", "endsWith")],
)
async def test_not_and_endswith_need_an_advanced_query(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    http: httpx.AsyncClient,
    graph_token: str,
    expression: str,
    operator: str,
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    error = _error(
        await http.get("/v1.0/users", params={"$filter": expression}, headers=auth), 400, "Request_UnsupportedQuery"
    )
    assert error["message"].startswith(f"Operator '{operator}' is not supported")
    assert "https://aka.ms/graph-docs/advanced-queries" in error["message"]
    ok = await http.get(
        "/v1.0/users",
        params={"$filter": expression, "$count": "true", "$select": "id,displayName,mail", "$top": "999"},
        headers={**auth, "ConsistencyLevel": "eventual"},
    )
    users = _active_users(entra, tenant["id"]).values()
    if operator == "not":
        expected = {u.id for u in users if not u.props["displayName"].lower().startswith("a")}
    else:
        expected = {u.id for u in users if str(u.props["mail"]).endswith(".example.com")}
    assert {r["id"] for r in ok.json()["value"]} == expected and expected


async def test_endswith_only_on_the_documented_properties(http: httpx.AsyncClient, graph_token: str) -> None:
    response = await http.get(
        "/v1.0/users",
        params={"$filter": "endsWith(displayName,'n')", "$count": "true"},
        headers={"Authorization": f"Bearer {graph_token}", "ConsistencyLevel": "eventual"},
    )
    error = _error(response, 400, "Request_UnsupportedQuery")
    assert error["message"] == (
        "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'."
    )
