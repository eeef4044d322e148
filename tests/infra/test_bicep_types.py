"""Every resource in infra/ against the Bicep compiler's own type data, as `bicep build` would check it: the type
and API version exist, every property written exists and is writable, required ones are there, literals are of the
right kind and among the allowed values. A broken copy shows each kind of mistake is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, all_resources, copy_infra, edit
from tests.infra.bicep_types import TYPES, TypeIndex, check

# Resource types the type data (tests/infra/bicep-types/README.md) does not hold yet; each is still checked to be
# missing, so the entry must go when the data arrives. Ask for more data in an issue's notes (the files are copied
# unchanged and never edited here).
NOT_IN_TYPE_DATA = {
    "main.bicep rg Microsoft.Resources/resourceGroups@2024-03-01": "resources_7 holds only deployments",
}


@pytest.fixture(scope="module")
def index() -> TypeIndex:
    return TypeIndex()


def _known_gaps(findings: list[object]) -> tuple[list[str], list[str]]:
    texts = [str(f) for f in findings]
    gaps = [t for t in texts if any(t.startswith(k.rsplit(" ", 1)[0] + ": BCP081") for k in NOT_IN_TYPE_DATA)]
    return [t for t in texts if t not in gaps], gaps


def test_every_resource_matches_the_type_data(index: TypeIndex) -> None:
    findings, _ = check(index=index)
    unexpected, gaps = _known_gaps(list(findings))
    assert unexpected == []
    assert len(gaps) == len(NOT_IN_TYPE_DATA), "a listed gap is in the type data now: remove it from NOT_IN_TYPE_DATA"


def test_every_declared_resource_was_checked(index: TypeIndex) -> None:
    _, checked = check(index=index)
    declared = {f"{path.relative_to(INFRA)} {name} {r['type']}@{r['api_version']}" for path, name, r in all_resources()}
    assert declared - set(checked) == set(NOT_IN_TYPE_DATA)
    assert len(checked) >= 25


def test_the_type_data_is_the_compilers(index: TypeIndex) -> None:
    assert (TYPES.parent / "README.md").is_file()
    assert index.body("Microsoft.Web/sites@2024-04-01") is not None
    assert "2024-04-01" in index.versions("microsoft.web/SITES")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, index: TypeIndex) -> set[tuple[str, str, str]]:
    """(resource, path, code) of every finding in a copy of infra/ with one mistake of each kind."""
    infra = copy_infra(tmp_path_factory.mktemp("types"))
    app = infra / "app"
    edit(app / "storage.bicep", "    allowBlobPublicAccess: false", "    allowBlobPublicAcess: false")  # typo
    edit(app / "storage.bicep", "    accessTier: 'Hot'", "    accessTier: 'Warm'")  # closed set (open ones take any)
    edit(app / "storage.bicep", "    publicAccess: 'None'", "    publicAccess: 'none'")
    edit(
        app / "storage.bicep",
        "    deleteRetentionPolicy: {\n      enabled: true\n      days: 7",
        "    deleteRetentionPolicy: {\n      enabled: true\n      days: 400",
    )
    vault = app / "keyvault.bicep"
    edit(
        vault,
        "param tags object = {}\n",
        "param tags object = {}\n@allowed([\n  'standard'\n  'gold'\n])\nparam vaultSku string = 'standard'\n",
    )
    edit(vault, "      name: 'standard'", "      name: vaultSku")
    edit(app / "api.bicep", "    httpsOnly: true", "    httpsOnly: 'true'\n    defaultHostName: 'app.example.com'")
    edit(app / "api.bicep", "            instanceCount: alwaysReadyHttpInstances", "            instances: 1")
    edit(app / "api.bicep", "  name: 'appsettings'", "  name: 'appsetings'")
    identity = app / "identity.bicep"
    edit(identity, "userAssignedIdentities@2023-01-31", "userAssignedIdentities@2023-01-32")
    edit(app / "rbac.bicep", "Microsoft.KeyVault/vaults@2023-07-01", "Microsoft.KeyVault/vaults@2024-11-01")  # exists
    rbac = app / "rbac.bicep"
    edit(
        rbac,
        "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
        "roles.monitoringMetricsPublisher)\n",
        "",
    )
    alerts = app / "alerts.bicep"
    edit(alerts, "    displayName: 'Connector: a connection is quarantined'", "    displayName: true")
    edit(alerts, "    windowSize: 'PT5M'", "    windowSize: 'PT5M'\n    evaluationFrequence: 'PT5M'")
    findings, _ = check(infra, index)
    return {(f.resource, f.path, f.code) for f in findings}


@pytest.mark.parametrize(
    ("resource", "path", "code"),
    [
        ("storage", "properties.allowBlobPublicAcess", "BCP037"),  # unknown property
        ("site", "properties.defaultHostName", "BCP073"),  # read-only property
        ("identity", "", "BCP081"),  # API version that does not exist
        ("vault", "properties.sku.name (@allowed value of parameter vaultSku)", "BCP036"),  # 'gold' is no sku
        ("storage", "properties.accessTier", "BCP036"),  # literal outside the allowed values
        ("deploymentContainer", "properties.publicAccess", "BCP088"),  # right value, wrong case
        ("blobService", "properties.deleteRetentionPolicy.days", "BCP036"),  # out of the type's range (1-365)
        ("site", "properties.httpsOnly", "BCP036"),  # a string where a bool belongs
        ("site", "properties.functionAppConfig.scaleAndConcurrency.alwaysReady[0].instances", "BCP037"),
        ("appSettings", "name", "BCP036"),  # no such config variant
        ("metricsPublisher", "properties.roleDefinitionId", "BCP035"),  # required property missing
        ("quarantined", "properties.displayName", "BCP036"),  # an alert rule's name is a string
        ("poisonQueues", "properties.evaluationFrequence", "BCP037"),  # a misspelt alert rule property
    ],
)
def test_a_broken_copy_is_caught(broken: set[tuple[str, str, str]], resource: str, path: str, code: str) -> None:
    assert (resource, path, code) in broken, sorted(broken)


def test_the_broken_copy_has_no_other_findings(broken: set[tuple[str, str, str]]) -> None:
    expected_extra = {("rg", "", "BCP081")}  # NOT_IN_TYPE_DATA
    assert len(broken - expected_extra) == 13, sorted(broken)  # one per mutation, none for the other version


def test_the_index_reads_only_files_it_was_given(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="no type data"):
        TypeIndex(tmp_path)
