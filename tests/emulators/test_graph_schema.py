"""Microsoft's Graph schema as the oracle for the emulator: every Graph response the connector consumes, recorded
while the connector's own code runs (full and incremental sync, verification, rotation), is parsed into
msgraph-sdk's generated models. A property those models do not know, or a value of the wrong type, fails.

msgraph-sdk is a dev dependency only (requirements-dev.txt): the product reads Graph as plain JSON."""

from __future__ import annotations

import json
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node import JsonParseNode
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter
from msgraph.generated.groups.delta.delta_get_response import DeltaGetResponse as GroupsDelta
from msgraph.generated.models.directory_object import DirectoryObject
from msgraph.generated.models.directory_object_collection_response import DirectoryObjectCollectionResponse
from msgraph.generated.models.group import Group
from msgraph.generated.models.group_collection_response import GroupCollectionResponse
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.organization_collection_response import OrganizationCollectionResponse
from msgraph.generated.models.unified_role_assignment_collection_response import (
    UnifiedRoleAssignmentCollectionResponse,
)
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.delta.delta_get_response import DeltaGetResponse as UsersDelta

from emulators.azurite import Azurite
from emulators.entra.server import EntraEmulator
from shared.adapters.entra_auth import CredentialTokens, make_credential
from shared.adapters.graph import GraphClient, RetryPolicy
from shared.adapters.queues import QueueSender
from shared.adapters.table_store import TableStore
from shared.domain.connection import Connection
from shared.domain.rate_limit import TokenBucket
from shared.services import verification
from shared.services.directory_sync import SyncDeps, run_sync
from shared.services.password_rotation import RotationDeps, rotate_connection
from shared.services.reset_role import check_reset_role
from tests.fakes.secret_store import FakeSecretStore
from tests.support.entra import app_of, start_entra

# (method, path below /v1.0) -> the msgraph model of the answer. A path the connector reads that is not here
# fails the test: add its model.
ROUTES: list[tuple[str, re.Pattern[str], type[Parsable]]] = [
    ("GET", re.compile(r"users"), UserCollectionResponse),
    ("GET", re.compile(r"users/delta(\(\))?"), UsersDelta),
    ("GET", re.compile(r"users/[^/]+"), User),
    ("GET", re.compile(r"users/[^/]+/memberOf/microsoft\.graph\.group"), GroupCollectionResponse),
    ("GET", re.compile(r"groups/delta(\(\))?"), GroupsDelta),
    ("GET", re.compile(r"groups"), GroupCollectionResponse),
    ("GET", re.compile(r"groups/[^/]+/members"), DirectoryObjectCollectionResponse),
    ("GET", re.compile(r"groups/[^/]+"), Group),
    ("GET", re.compile(r"groups/[^/]+/transitiveMembers"), DirectoryObjectCollectionResponse),
    ("GET", re.compile(r"groups/[^/]+/transitiveMembers/microsoft\.graph\.user"), UserCollectionResponse),
    ("GET", re.compile(r"groups/[^/]+/transitiveMembers/microsoft\.graph\.group"), GroupCollectionResponse),
    ("GET", re.compile(r"organization"), OrganizationCollectionResponse),
    ("GET", re.compile(r"roleManagement/directory/roleAssignments"), UnifiedRoleAssignmentCollectionResponse),
]
ANNOTATION = re.compile(r"^@odata\.[A-Za-z]+$|^@removed$|^[A-Za-z]+@delta$")
# Learn, "Combine multiple HTTP requests using JSON batching": a response item has id, status, headers, body.
BATCH_ITEM_FIELDS = {"id", "status", "headers", "body"}


def model_for(method: str, path: str) -> type[Parsable] | None:
    for route_method, pattern, model in ROUTES:
        if route_method == method and pattern.fullmatch(path):
            return model
    return None


# -- the oracle ----------------------------------------------------------------------------------------------------
def _unknown(model: Any, where: str) -> list[str]:
    """Properties the models put aside as additional data (not theirs), other than OData annotations."""
    problems = []
    extra = getattr(model, "additional_data", None) or {}
    for key in extra:
        if not ANNOTATION.match(key):
            problems.append(f"{where}: {type(model).__name__} has no property {key!r}")
    for name, value in vars(model).items():
        items = value if isinstance(value, list) else [value]
        for number, item in enumerate(items):
            if isinstance(item, Parsable):
                problems += _unknown(item, f"{where}.{name}" + (f"[{number}]" if isinstance(value, list) else ""))
    return problems


def _same(original: Any, back: Any) -> bool:
    if original == back:
        return True
    if isinstance(original, str) and isinstance(back, str):
        try:
            return datetime.fromisoformat(original) == datetime.fromisoformat(back)
        except ValueError:
            return False
    return isinstance(original, int | float) and isinstance(back, int | float) and float(original) == float(back)


def _lost(original: Any, back: Any, where: str) -> list[str]:
    """Values the models did not take as their declared type (they come back missing or changed)."""
    if isinstance(original, dict):
        if not isinstance(back, dict):
            return [f"{where}: an object came back as {back!r}"]
        problems = []
        for key, value in original.items():
            if value is None:
                continue
            if key not in back:
                problems.append(f"{where}.{key}: {value!r} is not of the type the schema declares")
            else:
                problems += _lost(value, back[key], f"{where}.{key}")
        return problems
    if isinstance(original, list):
        if not isinstance(back, list) or len(back) != len(original):
            return [f"{where}: a list of {len(original)} came back as {back!r}"]
        return [
            p
            for number, (a, b) in enumerate(zip(original, back, strict=True))
            for p in _lost(a, b, f"{where}[{number}]")
        ]
    return [] if _same(original, back) else [f"{where}: {original!r} came back as {back!r}"]


def _delta_members(document: Any, where: str) -> list[str]:
    """`members@delta` (an annotation, so the models keep it aside untyped) holds directory objects: check each."""
    problems = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key.endswith("@delta") and isinstance(value, list):
                for number, item in enumerate(value):
                    problems += check_shape(item, DirectoryObject, f"{where}.{key}[{number}]")
            elif isinstance(value, dict | list):
                problems += _delta_members(value, f"{where}.{key}")
    elif isinstance(document, list):
        for number, item in enumerate(document):
            problems += _delta_members(item, f"{where}[{number}]")
    return problems


def check_shape(document: Any, model: type[Parsable], where: str = "") -> list[str]:
    """Problems of one JSON document against an msgraph model: unknown properties and mistyped values."""
    where = where or model.__name__
    try:
        parsed = JsonParseNode(document).get_object_value(model)
    except (ValueError, TypeError, AttributeError) as exc:  # e.g. a string where a list belongs
        return [f"{where}: msgraph cannot read it as {model.__name__} ({type(exc).__name__}: {exc})"]
    writer = JsonSerializationWriter()
    writer.write_object_value(None, parsed)
    back = json.loads(writer.get_serialized_content())
    return _unknown(parsed, where) + _lost(document, back, where) + _delta_members(document, where)


# -- recording what the connector reads -----------------------------------------------------------------------------
@dataclass
class Exchange:
    method: str
    path: str
    status: int
    request: Any
    response: Any


class Recorder:
    def __init__(self, base_path: str) -> None:
        self.base_path = base_path.rstrip("/") + "/"
        self.exchanges: list[Exchange] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        path = urlsplit(str(response.request.url)).path
        if not path.startswith(self.base_path):
            return  # token requests
        request = json.loads(response.request.content) if response.request.content else None
        body = response.json() if response.content else None
        self.exchanges.append(
            Exchange(response.request.method, path[len(self.base_path) :], response.status_code, request, body)
        )


def problems_of(exchange: Exchange) -> tuple[list[str], list[str]]:
    """(problems, the route names covered) of one recorded exchange; a $batch is checked item by item."""
    where = f"{exchange.method} {exchange.path}"
    if exchange.response is None:
        return [], [f"{where} (no body)"]
    if exchange.status >= 400:
        return check_shape(exchange.response, ODataError, where), ["error"]
    if exchange.method == "POST" and exchange.path == "$batch":
        problems, covered = [], ["$batch"]
        problems += [f"{where}: unknown key {k!r}" for k in set(exchange.response) - {"responses", "@odata.nextLink"}]
        urls = {r["id"]: r["url"] for r in exchange.request["requests"]}
        for item in exchange.response["responses"]:
            problems += [f"{where} item: unknown key {k!r}" for k in set(item) - BATCH_ITEM_FIELDS]
            inner = Exchange(
                "GET", urlsplit(urls[item["id"]]).path.lstrip("/"), int(item["status"]), None, item.get("body")
            )
            found, names = problems_of(inner)
            problems += found
            covered += names
        return problems, covered
    model = model_for(exchange.method, exchange.path)
    if model is None:
        return [f"{where}: the connector reads a shape this test has no model for (add it to ROUTES)"], []
    return check_shape(exchange.response, model, where), [
        model.__name__ if model not in (UsersDelta, GroupsDelta) else exchange.path
    ]


# -- the connector's own reads, against the emulator --------------------------------------------------------------
@pytest.fixture(scope="module")
def schema_entra() -> Iterator[EntraEmulator]:
    with start_entra(seed="graph-schema", size=60, tenants=1) as emulator:
        yield emulator


@pytest.fixture(scope="module")
async def recorded(schema_entra: EntraEmulator, azurite: Azurite) -> AsyncIterator[list[Exchange]]:
    entra, tenant = schema_entra, schema_entra.tenants[0]
    app = app_of(tenant, "customer")
    tid, control = tenant["id"], schema_entra.control
    control.grant_permissions(tid, app["client_id"], ["Organization.Read.All", "RoleManagement.Read.Directory"])
    recorder = Recorder(urlsplit(entra.graph_url).path)
    credential = make_credential(
        tenant_id=tid,
        client_id=app["client_id"],
        secret=app["client_secret"],
        login_url=entra.login_url,
        ca_path=entra.ca_path,
        emulated=True,
    )
    tokens = CredentialTokens(credential, "https://graph.microsoft.com/.default")
    http = httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=entra.ca_path), timeout=30, event_hooks={"response": [recorder]}
    )

    async def no_sleep(_: float) -> None:
        return None

    graph = GraphClient(http, tokens, entra.graph_url, retry=RetryPolicy(sleep=no_sleep))
    connection = Connection(
        id=f"c{uuid.uuid4().hex[:12]}",
        tenant_id=tid,
        display_name="Schema tenant",
        credential_mode="customer_app",
        client_id=app["client_id"],
        sync_group_id=tenant["sync_group"]["id"],
        rotation_group_id=tenant["rotation_group"]["id"],
        rotation_enabled=True,
        state="active",
    )
    tables = TableStore.from_connection_string(azurite.connection_string)
    queues = QueueSender.from_connection_string(azurite.connection_string)
    try:
        sync = SyncDeps(graph=graph, tables=tables, queues=queues)
        await run_sync(sync, connection, mode="full")
        truth = control.ground_truth(tid, connection.sync_group_id)
        group_id, member = truth["memberships"][0]
        control.create_user(tid, "Zoë", "Schema", groups=[connection.sync_group_id])
        control.update_user(tid, member, accountEnabled=False, jobTitle="Changed")
        control.rename_group(tid, group_id, "Renamed for the schema test")
        control.remove_member(tid, group_id, member)
        control.delete_user(tid, sorted(truth["users"])[-1])
        await run_sync(sync, connection, mode="incremental")
        await run_sync(sync, connection, mode="groups")
        await verification._probe(graph, connection)
        await verification._scope_check(graph, connection.rotation_group_id or "", connection.sync_group_id or "")
        await verification._group_check(graph, "missing", str(uuid.uuid4()))  # a 404 error body
        await check_reset_role(graph)
        rotation = RotationDeps(
            tables=tables,
            queues=queues,
            secrets=FakeSecretStore(),
            graph=graph,
            graph_writes=TokenBucket(1000, 1.0),
            vault_creates=TokenBucket(1000, 1.0),
        )
        await rotate_connection(rotation, connection, all=True)
        yield recorder.exchanges
    finally:
        await queues.receive_events("directory-changes")
        await tables.close()
        await queues.close()
        await http.aclose()
        await tokens.close()


def test_every_response_the_connector_consumes_fits_microsofts_schema(recorded: list[Exchange]) -> None:
    problems = [p for exchange in recorded for p in problems_of(exchange)[0]]
    assert problems == [], "\n".join(problems[:40])


def test_every_shape_was_exercised(recorded: list[Exchange]) -> None:
    covered = {name for exchange in recorded for name in problems_of(exchange)[1]}
    expected = {
        "UserCollectionResponse",
        "User",
        "GroupCollectionResponse",
        "Group",
        "DirectoryObjectCollectionResponse",
        "OrganizationCollectionResponse",
        "UnifiedRoleAssignmentCollectionResponse",
        "$batch",
        "error",
    }
    assert expected <= covered, f"not exercised: {sorted(expected - covered)}"
    deltas = {name for name in covered if "delta" in name}
    assert any(n.startswith("users/delta") for n in deltas) and any(n.startswith("groups/delta") for n in deltas)
    assert any(e.method == "PATCH" for e in recorded), "the password reset ran"


def test_delta_pages_carried_removals_and_member_changes(recorded: list[Exchange]) -> None:
    """So the annotation paths of the oracle (@removed, members@delta) were really checked."""
    items = [i for e in recorded if "delta" in e.path and e.response for i in e.response.get("value", [])]
    assert any("@removed" in item for item in items)
    assert any("members@delta" in item for item in items)


# -- the oracle catches what it must ------------------------------------------------------------------------------
def test_an_unknown_property_is_caught() -> None:
    page = {"value": [{"id": "1", "displayName": "A", "acountEnabled": True}]}
    assert check_shape(page, UserCollectionResponse) == [
        "UserCollectionResponse.value[0]: User has no property 'acountEnabled'"
    ]


def test_a_mistyped_value_is_caught() -> None:
    user = {"id": "1", "accountEnabled": "yes", "createdDateTime": "yesterday", "userType": 7}
    assert check_shape(user, User) == [
        "User.accountEnabled: 'yes' is not of the type the schema declares",
        "User.createdDateTime: 'yesterday' is not of the type the schema declares",
        "User.userType: 7 is not of the type the schema declares",
    ]
    assert check_shape({"id": "1", "businessPhones": "0123"}, User)[0].startswith("User: msgraph cannot read it")


def test_annotations_are_allowed_and_members_at_delta_is_checked() -> None:
    page = {
        "@odata.deltaLink": "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=x",
        "value": [
            {"id": "g", "displayName": "G", "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u"}]},
            {"id": "h", "@removed": {"reason": "deleted"}},
            {"id": "k", "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "u", "colour": "red"}]},
        ],
    }
    assert check_shape(page, GroupsDelta) == [
        "DeltaGetResponse.value[2].members@delta[0]: User has no property 'colour'"
    ]
