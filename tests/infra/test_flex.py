"""infra/ against Microsoft's Flex Consumption rules: no site property or app setting Flex deprecates or refuses,
and the plan's sizes, limits and runtime within what Flex offers. Each rule names its Learn page."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from tests.infra.bicep import INFRA, REPO, app_setting_names, copy_infra, edit, parse, resources, the_resource

# Learn, "App settings reference for Azure Functions", section "Flex Consumption plan deprecations"
# (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations).
# The table names them `properties.X`; in the ARM shape most are under properties.siteConfig, so both are checked.
DEPRECATED_SITE_PROPERTIES = {
    "alwaysOn": "Not valid",
    "containerSize": "Renamed as instanceMemoryMB",
    "dnsConfiguration": "DNS comes from the integrated virtual network",
    "ftpsState": "FTPS not supported",
    "isReserved": "Not valid",
    "isXenon": "Not valid",
    "javaVersion": "Replaced by functionAppConfig.runtime.version",
    "linuxFxVersion": "Replaced by functionAppConfig.runtime",
    "netFrameworkVersion": "Replaced by functionAppConfig.runtime.version",
    "powerShellVersion": "Replaced by functionAppConfig.runtime.version",
    "functionAppScaleLimit": "Renamed as maximumInstanceCount",
    "preWarmedInstanceCount": "Renamed as alwaysReady instances",
    "use32BitWorkerProcess": "32-bit not supported",
    "vnetBackupRestoreEnabled": "Not used for networking in Flex Consumption",
    "vnetContentShareEnabled": "Not used for networking in Flex Consumption",
    "vnetImagePullEnabled": "Not used for networking in Flex Consumption",
    "vnetRouteAllEnabled": "Not used for networking in Flex Consumption",
    "windowsFxVersion": "Not valid",
}
DEPRECATED_APP_SETTINGS = {
    "ENABLE_ORYX_BUILD": "Replaced by the remoteBuild deployment parameter",
    "FUNCTIONS_EXTENSION_VERSION": "Set by the backend",
    "FUNCTIONS_WORKER_RUNTIME": "Replaced by functionAppConfig.runtime.name",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "Replaced by functionAppConfig.runtime.version",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "Replaced by scaleAndConcurrency triggers",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "Setting not valid",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "Setting not valid",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "Replaced by the remoteBuild deployment parameter",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "Replaced by functionAppConfig.deployment",
    "WEBSITE_CONTENTOVERVNET": "Not used for networking in Flex Consumption",
    "WEBSITE_CONTENTSHARE": "Replaced by functionAppConfig.deployment",
    "WEBSITE_DNS_SERVER": "DNS comes from the integrated virtual network",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "Replaced by maximumInstanceCount",
    "WEBSITE_NODE_DEFAULT_VERSION": "Replaced by functionAppConfig.runtime.version",
    "WEBSITE_RUN_FROM_PACKAGE": "Not used for deployments in Flex Consumption",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "Content share is not used",
    "WEBSITE_VNET_ROUTE_ALL": "Not used for networking in Flex Consumption",
}
# Learn, "Azure Functions Flex Consumption plan hosting" (flex-consumption-plan): instance sizes, the `http` scale
# group for always-ready instances, Python 3.10-3.12; "Create and manage function apps in the Flex Consumption
# plan" (flex-consumption-how-to): maximum instance count between 40 and 1000.
INSTANCE_MEMORY_MB = {512, 2048, 4096}
MAXIMUM_INSTANCES = (40, 1000)
PYTHON_VERSIONS = {"3.10", "3.11", "3.12"}


def _site(infra: Path) -> dict[str, Any]:
    return the_resource(parse(infra / "app" / "api.bicep"), "Microsoft.Web/sites")


def flex_violations(infra: Path = INFRA) -> list[str]:
    """Every site property and app setting that the Flex deprecation table names, with its reason."""
    props = _site(infra)["properties"]
    found = []
    deprecated = {name.lower(): (name, why) for name, why in DEPRECATED_SITE_PROPERTIES.items()}
    for where, block in (("properties", props), ("properties.siteConfig", props.get("siteConfig", {}))):
        for key in block:
            if key.lower() in deprecated:
                found.append(f"{where}.{key}: {deprecated[key.lower()][1]}")
    if "appSettings" in props.get("siteConfig", {}):
        found.append("properties.siteConfig.appSettings: the appsettings config resource holds them")
    settings = sorted(app_setting_names(infra) & set(DEPRECATED_APP_SETTINGS))
    found += [f"app setting {name}: {DEPRECATED_APP_SETTINGS[name]}" for name in settings]
    return found


def test_nothing_flex_deprecates_or_refuses_is_set() -> None:
    assert flex_violations() == []


def test_ftps_state_put_back_is_caught(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    api = infra / "app" / "api.bicep"
    edit(api, "      http20Enabled: true", "      http20Enabled: true\n      ftpsState: 'Disabled'")
    edit(api, "    KEY_VAULT_URL:", "    WEBSITE_RUN_FROM_PACKAGE: '1'\n    KEY_VAULT_URL:")
    assert flex_violations(infra) == [
        "properties.siteConfig.ftpsState: FTPS not supported",
        "app setting WEBSITE_RUN_FROM_PACKAGE: Not used for deployments in Flex Consumption",
    ]


def test_ftp_stays_off_through_the_publishing_policies() -> None:
    policies = resources(parse(INFRA / "app" / "api.bicep"), "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {p["name"]: p["properties"]["allow"] for p in policies.values()} == {"ftp": False, "scm": False}


def _decorators(parameter: dict[str, Any]) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in parameter.get("decorators", [])}


def test_sizes_and_limits_are_within_what_flex_offers() -> None:
    parameters = parse(INFRA / "main.bicep")["parameters"]
    memory = _decorators(parameters["instanceMemoryMB"])
    assert set(memory["allowed"]) <= INSTANCE_MEMORY_MB
    assert parameters["instanceMemoryMB"]["default"] == 2048, "Learn: 2,048 MB is the default for most scenarios"
    count = _decorators(parameters["maximumInstanceCount"])
    assert (count["min_value"], count["max_value"]) == MAXIMUM_INSTANCES


def test_one_app_on_its_own_flex_plan_with_the_http_group_and_a_supported_python() -> None:
    doc = parse(INFRA / "app" / "api.bicep")
    plan = the_resource(doc, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert len(resources(doc, "Microsoft.Web/sites")) == 1, "Flex Consumption allows one app per plan"
    config = _site(INFRA)["properties"]["functionAppConfig"]
    always_ready = config["scaleAndConcurrency"]["alwaysReady"]["operator"]["operands"]["true_value"]
    assert [group["name"] for group in always_ready] == ["http"]
    runtime = config["runtime"]
    assert runtime["name"] == "python" and runtime["version"] in PYTHON_VERSIONS
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert f">={runtime['version']}" in project["requires-python"], "Azure runs the Python the project targets"
