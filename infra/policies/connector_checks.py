"""The connector's own checkov policies: security defaults no built-in check covers for Bicep.

Loaded with `checkov --external-checks-dir infra/policies`; runs inside `.venv-checkov` (never imported by the app).
"""

from __future__ import annotations

from typing import Any

from checkov.arm.base_resource_check import BaseResourceCheck
from checkov.arm.base_resource_value_check import BaseResourceValueCheck
from checkov.common.models.enums import CheckCategories, CheckResult


class _ValueIs(BaseResourceValueCheck):
    """Passes only when `key` is present and equals `expected` (a missing key fails)."""

    def __init__(self, check_id: str, name: str, resource: str, key: str, expected: Any) -> None:
        self.key = key
        self.expected = expected
        super().__init__(name=name, id=check_id, categories=(CheckCategories.IAM,), supported_resources=(resource,))

    def get_inspected_key(self) -> str:
        return self.key

    def get_expected_value(self) -> Any:
        return self.expected


class NoKeysInAppSettings(BaseResourceCheck):
    """App settings use the managed identity: no storage connection string, account key or SAS."""

    FORBIDDEN_NAMES = frozenset({"AzureWebJobsStorage", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"})
    FORBIDDEN_TEXT = ("AccountKey=", "SharedAccessSignature=", "sig=")

    def __init__(self) -> None:
        super().__init__(
            name="Function app settings reach storage with the managed identity, never a key or SAS",
            id="CKV_CONN_7",
            categories=(CheckCategories.SECRETS,),
            supported_resources=("Microsoft.Web/sites/config",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        if conf.get("name") != "appsettings":
            return CheckResult.UNKNOWN
        settings = conf.get("properties")
        if not isinstance(settings, dict):
            return CheckResult.FAILED
        if self.FORBIDDEN_NAMES & settings.keys():
            return CheckResult.FAILED
        if any(text in str(value) for value in settings.values() for text in self.FORBIDDEN_TEXT):
            return CheckResult.FAILED
        if settings.get("AzureWebJobsStorage__credential") != "managedidentity":
            return CheckResult.FAILED
        return CheckResult.PASSED


class AlertRuleNotifies(BaseResourceCheck):
    """A log alert rule is on and notifies at least one action group (an alert nobody receives is no alert)."""

    def __init__(self) -> None:
        super().__init__(
            name="Log alert rules are enabled and notify an action group",
            id="CKV_CONN_8",
            categories=(CheckCategories.LOGGING,),
            supported_resources=("Microsoft.Insights/scheduledQueryRules",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = conf.get("properties")
        if not isinstance(properties, dict) or properties.get("enabled") is not True:
            return CheckResult.FAILED
        actions = properties.get("actions")
        groups = actions.get("actionGroups") if isinstance(actions, dict) else None
        return CheckResult.PASSED if isinstance(groups, list) and groups else CheckResult.FAILED


checks = (
    _ValueIs(
        "CKV_CONN_1",
        "Storage account refuses shared key (and so SAS) authorization",
        "Microsoft.Storage/storageAccounts",
        "properties/allowSharedKeyAccess",
        False,
    ),
    _ValueIs(
        "CKV_CONN_2",
        "Storage account forbids anonymous blob access",
        "Microsoft.Storage/storageAccounts",
        "properties/allowBlobPublicAccess",
        False,
    ),
    _ValueIs(
        "CKV_CONN_3",
        "Key Vault uses Azure RBAC, not access policies",
        "Microsoft.KeyVault/vaults",
        "properties/enableRbacAuthorization",
        True,
    ),
    _ValueIs(
        "CKV_CONN_4",
        "Application Insights refuses instrumentation-key-only ingestion (local auth off)",
        "Microsoft.Insights/components",
        "properties/DisableLocalAuth",
        True,
    ),
    _ValueIs(
        "CKV_CONN_5",
        "Log Analytics workspace refuses shared-key access (local auth off)",
        "Microsoft.OperationalInsights/workspaces",
        "properties/features/disableLocalAuth",
        True,
    ),
    _ValueIs(
        "CKV_CONN_6",
        "Function app refuses FTP and SCM basic-auth publishing",
        "Microsoft.Web/sites/basicPublishingCredentialsPolicies",
        "properties/allow",
        False,
    ),
    NoKeysInAppSettings(),
    AlertRuleNotifies(),
    _ValueIs(
        "CKV_CONN_9",
        "The alerts' action group is enabled",
        "microsoft.insights/actionGroups",
        "properties/enabled",
        True,
    ),
)
