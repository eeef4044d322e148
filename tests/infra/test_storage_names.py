"""Bicep creates exactly the tables and queues in shared/storage_names.py, plus the deployment container."""

from __future__ import annotations

from shared.storage_names import QUEUES, TABLES
from tests.infra.bicep import INFRA, parse, resources, string_list_variable

MAIN = INFRA / "main.bicep"
STORAGE = INFRA / "app" / "storage.bicep"


def test_tables_are_exactly_the_apps_tables() -> None:
    tables = string_list_variable(MAIN, "tableNames")
    assert len(tables) == len(set(tables))
    assert set(tables) == set(TABLES), f"missing {set(TABLES) - set(tables)}, extra {set(tables) - set(TABLES)}"


def test_queues_are_exactly_the_apps_queues() -> None:
    queues = string_list_variable(MAIN, "queueNames")
    assert len(queues) == len(set(queues))
    assert set(queues) == set(QUEUES), f"missing {set(QUEUES) - set(queues)}, extra {set(queues) - set(QUEUES)}"


def test_the_lists_reach_the_storage_module_and_become_resources() -> None:
    params = parse(MAIN)["modules"]["storage"]["config"]["params"]
    assert params["tableNames"] == "tableNames"
    assert params["queueNames"] == "queueNames"
    doc = parse(STORAGE)
    for kind, param in (("tables", "tableNames"), ("queues", "queueNames")):
        resource_type = f"Microsoft.Storage/storageAccounts/{kind[:-1]}Services/{kind}"
        (loop,) = (r["config"] for r in doc["resources"].values() if r["type"] == resource_type)
        assert loop["loop_type"]["detail"]["array_name"] == param


def test_the_deployment_container_is_private_and_used_by_the_app() -> None:
    containers = resources(parse(STORAGE), "Microsoft.Storage/storageAccounts/blobServices/containers")
    (container,) = containers.values()
    assert container["name"] == "deploymentContainerName"
    assert container["properties"]["publicAccess"] == "None"
    api = parse(INFRA / "app" / "api.bicep")
    site = resources(api, "Microsoft.Web/sites")["site"]
    assert site["properties"]["functionAppConfig"]["deployment"]["storage"]["value"].endswith(
        "${deploymentContainerName}"
    )
