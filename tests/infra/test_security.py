"""Security defaults read straight from the parsed Bicep (checkov checks them too; these pin the exact values)."""

from __future__ import annotations

from pathlib import Path

from tests.infra.bicep import INFRA, all_resources, copy_infra, edit, parse, resources, the_resource

APP = INFRA / "app"

# Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": ("Storage Blob Data Owner", "storage"),
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": ("Storage Queue Data Contributor", "storage"),
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": ("Storage Table Data Contributor", "storage"),
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": ("Key Vault Secrets Officer", "vault"),
    "3913510d-42f4-4e42-8a64-420c390055eb": ("Monitoring Metrics Publisher", "applicationInsights"),
}


STORAGE_REQUIRED = {
    "allowSharedKeyAccess": False,
    "defaultToOAuthAuthentication": True,
    "allowBlobPublicAccess": False,
    "allowCrossTenantReplication": False,
    "minimumTlsVersion": "TLS1_2",
    "supportsHttpsTrafficOnly": True,
}


def storage_violations(infra: Path = INFRA) -> dict[str, object]:
    """Storage properties that differ from STORAGE_REQUIRED, with the value found."""
    props = the_resource(parse(infra / "app" / "storage.bicep"), "Microsoft.Storage/storageAccounts")["properties"]
    return {key: props.get(key) for key, value in STORAGE_REQUIRED.items() if props.get(key) != value}


def test_storage_takes_entra_id_only_over_tls_1_2() -> None:
    assert storage_violations() == {}


def test_shared_key_access_turned_back_on_is_caught(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    edit(infra / "app" / "storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true")
    assert storage_violations(infra) == {"allowSharedKeyAccess": True}


def test_key_vault_uses_rbac_with_soft_delete_and_purge_protection() -> None:
    doc = parse(APP / "keyvault.bicep")
    props = the_resource(doc, "Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert "accessPolicies" not in props
    audit = the_resource(doc, "Microsoft.Insights/diagnosticSettings")
    assert {"categoryGroup": "audit", "enabled": True} in audit["properties"]["logs"]


def test_telemetry_refuses_local_auth() -> None:
    doc = parse(APP / "monitoring.bicep")
    assert the_resource(doc, "Microsoft.Insights/components")["properties"]["DisableLocalAuth"] is True
    workspace = the_resource(doc, "Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["features"]["disableLocalAuth"] is True


def test_the_function_app_runs_python_3_11_on_flex_with_the_one_identity() -> None:
    doc = parse(APP / "api.bicep")
    plan = the_resource(doc, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = the_resource(doc, "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert "ftpsState" not in props["siteConfig"], "Flex Consumption refuses it; FTP is off by the policies below"
    config = props["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert "alwaysReadyHttpInstances" in str(config["scaleAndConcurrency"]["alwaysReady"])
    policies = resources(doc, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {p["name"]: p["properties"]["allow"] for p in policies.values()} == {"ftp": False, "scm": False}


def test_one_user_assigned_identity_and_no_system_assigned_one() -> None:
    identities = [r for _, _, r in all_resources() if r["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"]
    assert len(identities) == 1
    for path, name, resource in all_resources():
        identity = resource["config"].get("identity") if isinstance(resource["config"], dict) else None
        if identity:
            assert "SystemAssigned" not in str(identity["type"]), f"{path.name}:{name}"


def _role_assignments() -> list[tuple[str, dict[str, object]]]:
    doc = parse(APP / "rbac.bicep")
    role_ids = doc["variables"]["roles"]["value"]
    found = []
    for config in resources(doc, "Microsoft.Authorization/roleAssignments").values():
        role = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        key = role["operator"]["operands"]["operand_2"]
        found.append((role_ids[key], config))
    return found


def test_the_identity_gets_exactly_the_least_privilege_roles_each_on_one_resource() -> None:
    for_identity = {
        role: config["scope"]
        for role, config in _role_assignments()
        if config["properties"]["principalId"] == "identityPrincipalId"
    }
    assert {ROLES[role][0]: scope for role, scope in for_identity.items()} == {
        name: scope for name, scope in ROLES.values()
    }


def test_no_broad_roles_or_scopes_anywhere() -> None:
    for role, config in _role_assignments():
        assert role in ROLES, f"unexpected role {role}"
        assert config["scope"] in {"storage", "vault", "applicationInsights"}, "never a group or subscription scope"
    for path in (INFRA / "main.bicep", *APP.glob("*.bicep")):
        text = Path(path).read_text()
        for broad in (
            "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
        ):  # Owner, Contributor
            assert broad not in text, f"{path.name} assigns a broad role"
