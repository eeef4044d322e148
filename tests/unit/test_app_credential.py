"""The app's own credential is chosen from settings alone: a client secret when one is set, otherwise
azure-identity's chain (managed identity in Azure; the admin's Azure CLI / azd / VS Code sign-in for the CLI on a
laptop), never an interactive browser. Built, not used: nothing here touches the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential

from scripts.cli import environment
from shared.adapters.app_credential import build_app_credential, choose_app_credential
from shared.client_pool import ClientPool
from shared.composition import Container
from shared.config import load_settings

AZURE = {  # what the Bicep gives the function app: no secret anywhere
    "AzureWebJobsStorage__tableServiceUri": "https://st1.table.core.windows.net",
    "AzureWebJobsStorage__queueServiceUri": "https://st1.queue.core.windows.net",
    "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "KEY_VAULT_URL": "https://kv-1.vault.azure.net",
    "PUBLIC_BASE_URL": "https://func-1.azurewebsites.net",
}
LAPTOP = {k: v for k, v in AZURE.items() if k != "AZURE_CLIENT_ID"}  # `azd env get-values` on an admin's machine
LOCAL = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
    "AZURE_TENANT_ID": "33333333-3333-3333-3333-333333333333",
    "AZURE_CLIENT_SECRET": "local-secret-value",
    "KEY_VAULT_URL": "https://127.0.0.1:47002",
    "PUBLIC_BASE_URL": "http://localhost:7071",
    "ENTRA_LOGIN_URL_OVERRIDE": "https://127.0.0.1:47001",
}


def _choice(env: dict[str, str]) -> Any:
    settings = load_settings(env)
    return choose_app_credential(settings.identity, login_url="https://login.microsoftonline.com")


def _chain_names(credential: Any) -> list[str]:
    return [type(member).__name__ for member in credential.credentials]


def test_a_client_secret_in_the_settings_means_that_secret() -> None:
    choice = _choice(LOCAL)
    assert (choice.kind, choice.tenant_id, choice.client_id) == (
        "client_secret",
        LOCAL["AZURE_TENANT_ID"],
        LOCAL["AZURE_CLIENT_ID"],
    )
    assert "local-secret-value" not in repr(choice)


@pytest.mark.parametrize("env", [AZURE, LAPTOP], ids=["azure", "cli-on-a-laptop"])
def test_no_secret_means_the_chain_with_the_settings_identity(env: dict[str, str]) -> None:
    choice = _choice(env)
    assert choice.kind == "chain"
    assert choice.client_id == env.get("AZURE_CLIENT_ID")


async def test_the_chain_tries_managed_identity_then_the_developer_sign_ins_and_never_a_browser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_TOKEN_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(LAPTOP)
    credential = build_app_credential(
        choose_app_credential(settings.identity, login_url="https://login"), settings.identity
    )
    try:
        assert isinstance(credential, DefaultAzureCredential)
        names = _chain_names(credential)
        assert names.index("ManagedIdentityCredential") < names.index("AzureCliCredential")
        assert {"EnvironmentCredential", "AzureCliCredential", "AzureDeveloperCliCredential"} <= set(names)
        assert not [n for n in names if "Interactive" in n or "DeviceCode" in n or "Browser" in n]
    finally:
        await credential.close()


async def test_the_container_and_so_the_cli_use_the_choice() -> None:
    """scripts.cli builds Container(load_settings(env)): with `azd env get-values` and no secret it gets the chain;
    with the local settings, the secret."""
    for env, expected in ((LAPTOP, DefaultAzureCredential), (LOCAL, ClientSecretCredential)):
        pool = ClientPool()
        try:
            assert isinstance(Container(load_settings(env), pool=pool).app_credential(), expected)
        finally:
            await pool.close()


def test_the_cli_against_a_deployment_ignores_a_local_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--settings none`: a local.settings.json left by `make local` (emulator URLs, a local secret) must not fill
    in the deployment's settings, or the CLI would sign in with the emulated identity."""
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": LOCAL}))
    monkeypatch.chdir(tmp_path)
    assert environment(None, LAPTOP)["AZURE_CLIENT_SECRET"] == LOCAL["AZURE_CLIENT_SECRET"]  # the default fills in
    env = environment("none", LAPTOP)
    assert env == LAPTOP
    assert _choice(env).kind == "chain"
