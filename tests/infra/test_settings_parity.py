"""The app settings Bicep gives Azure are exactly the registry's Azure settings (shared/config.py SETTINGS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import SETTINGS
from tests.infra.bicep import INFRA, app_setting_names, app_settings, copy_infra, edit, parse


def azure_settings() -> set[str]:
    return {s.name for s in SETTINGS if s.where in ("both", "azure")}


def drift(infra: Path = INFRA) -> tuple[set[str], set[str]]:
    """(registered for Azure but missing in Bicep, set in Bicep but not registered for Azure)."""
    in_bicep = app_setting_names(infra)
    expected = azure_settings()
    return expected - in_bicep, in_bicep - expected


def test_bicep_sets_every_azure_setting_in_the_registry() -> None:
    missing, _ = drift()
    assert missing == set(), f"add to infra/app/api.bicep appSettings: {sorted(missing)}"


def test_bicep_sets_no_setting_the_registry_does_not_know() -> None:
    _, extra = drift()
    local_only = {s.name for s in SETTINGS if s.where == "local"}
    assert extra & local_only == set(), f"local-only settings must not reach Azure: {sorted(extra & local_only)}"
    assert extra == set(), f"register in shared/config.py SETTINGS (where 'azure' or 'both'): {sorted(extra)}"


def test_removing_a_setting_from_bicep_is_caught(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    edit(infra / "app" / "api.bicep", "    AzureWebJobsStorage__tableServiceUri:", "    // removed:")
    missing, _ = drift(infra)
    assert missing - drift()[0] == {"AzureWebJobsStorage__tableServiceUri"}


def test_adding_a_local_only_setting_to_bicep_is_caught(tmp_path: Path) -> None:
    infra = copy_infra(tmp_path)
    edit(
        infra / "app" / "api.bicep",
        "    AZURE_CLIENT_ID:",
        "    FUNCTIONS_WORKER_RUNTIME: 'python'\n    AZURE_CLIENT_ID:",
    )
    _, extra = drift(infra)
    assert "FUNCTIONS_WORKER_RUNTIME" in extra


def test_identity_based_values() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD;ClientId=${identityClientId}"
    for endpoint in ("blob", "queue", "table"):
        value = settings[f"AzureWebJobsStorage__{endpoint}ServiceUri"]
        assert "primaryEndpoints" in str(value) and endpoint in str(value)


# Settings whose Azure value comes from a Bicep parameter default: the defaults must agree with the registry.
PARAMETER_DEFAULTS = {
    "OPERATOR_CREDENTIAL_SECRET_NAME": (INFRA / "main.bicep", "operatorCredentialSecretName"),
    "SYNC_TIME_BUDGET_SECONDS": (INFRA / "app" / "api.bicep", "syncTimeBudgetSeconds"),
    "OPERATOR_CREDENTIAL_SECRET_NAME_USGOV": (INFRA / "app" / "api.bicep", "operatorCredentialSecretNameUsgov"),
    "OPERATOR_CREDENTIAL_SECRET_NAME_CHINA": (INFRA / "app" / "api.bicep", "operatorCredentialSecretNameChina"),
    "CHANGE_NOTIFICATIONS": (INFRA / "app" / "api.bicep", "changeNotifications"),
    "AGENT_LEASE_SECONDS": (INFRA / "app" / "api.bicep", "agentLeaseSeconds"),
}


@pytest.mark.parametrize("name", sorted(PARAMETER_DEFAULTS))
def test_bicep_defaults_agree_with_the_registry(name: str) -> None:
    path, parameter = PARAMETER_DEFAULTS[name]
    registered = {s.name: s.default for s in SETTINGS}
    assert name in registered, f"{name} is set by Bicep but not registered in shared/config.py SETTINGS"
    assert str(parse(path)["parameters"][parameter]["default"]) == registered[name]


def test_azd_outputs_give_the_cli_the_settings_it_needs() -> None:
    """`azd env get-values` (the outputs, plus the azd variables the admin set) loads as the CLI's settings: with
    placeholder values for each output, shared.config reports nothing missing and picks no client secret, so the
    CLI signs in with the admin's own Azure credential (shared/adapters/app_credential.py)."""
    from shared.config import load_settings

    outputs = parse(INFRA / "main.bicep")["outputs"]
    placeholders = {
        name: "https://example.invalid" if spec["type"] == "string" else "x" for name, spec in outputs.items()
    }
    registered = {s.name for s in SETTINGS}
    settings = load_settings({k: v for k, v in placeholders.items() if k in registered})
    assert settings.storage.table_uri and settings.storage.queue_uri and settings.key_vault_url
    assert settings.identity.client_secret is None
