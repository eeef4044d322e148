"""Every setting the code reads is registered, documented in local.settings.json.example, and read lazily."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from shared.config import SETTING_NAMES, SETTINGS, load_settings
from shared.errors import ConfigurationError
from tests.functions.invoke import registered_functions

REPO = Path(__file__).resolve().parents[2]
APP_CODE = [REPO / "function_app.py", *(REPO / "functions").rglob("*.py"), *(REPO / "shared").rglob("*.py")]


def _example_values() -> dict[str, str]:
    values: dict[str, str] = json.loads((REPO / "local.settings.json.example").read_text())["Values"]
    return values


def test_the_example_defines_exactly_the_local_settings() -> None:
    expected = {s.name for s in SETTINGS if s.where in ("both", "local")}
    assert set(_example_values()) == expected


def test_the_example_values_load_cleanly() -> None:
    load_settings(_example_values())


def test_only_shared_config_reads_the_environment() -> None:
    offenders = []
    for path in APP_CODE:
        if path == REPO / "shared" / "config.py":
            continue
        text = path.read_text()
        if re.search(r"os\.environ|os\.getenv|getenv\(|environ\[", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_every_app_setting_is_read_somewhere_and_every_binding_setting_is_registered() -> None:
    config_strings = _string_constants(REPO / "shared" / "config.py")
    app_read = {s.name for s in SETTINGS if s.reader == "app"}
    # registered app settings are read by config.py through _Reader.get(...) with the literal name
    source = (REPO / "shared" / "config.py").read_text()
    unread = {name for name in app_read if f'"{name}"' not in source.split("SETTING_NAMES =", 1)[1]}
    assert unread == set(), f"registered but never read: {unread}"
    assert app_read <= config_strings
    # binding expressions (%NAME%) and connection names used by triggers must be registered too
    for fn in registered_functions():
        for binding in json.loads(fn.get_function_json())["bindings"]:
            for value in binding.values():
                for name in re.findall(r"%([A-Za-z0-9_]+)%", str(value)):
                    assert name in SETTING_NAMES, f"{fn.get_function_name()} uses unregistered %{name}%"
            if "connection" in binding:
                assert binding["connection"] in SETTING_NAMES


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({})
    assert set(caught.value.problems) >= {
        "AzureWebJobsStorage__tableServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
    }


def test_a_malformed_endpoint_is_named() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            {"AzureWebJobsStorage__tableServiceUri": "ftp://x", "AzureWebJobsStorage__queueServiceUri": "nope"}
        )
    assert "must be an https:// URL" in caught.value.problems["AzureWebJobsStorage__tableServiceUri"]
    assert "AzureWebJobsStorage__queueServiceUri" in caught.value.problems


def test_identity_based_storage_needs_no_connection_string() -> None:
    settings = load_settings(
        {
            "AzureWebJobsStorage__tableServiceUri": "https://acct.table.core.windows.net",
            "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net/",
            "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
            "KEY_VAULT_URL": "https://kv-example.vault.azure.net/",
            "PUBLIC_BASE_URL": "https://func-example.azurewebsites.net",
        }
    )
    assert settings.storage.connection_string is None
    assert settings.storage.queue_uri == "https://acct.queue.core.windows.net"
    assert settings.storage.client_id == "11111111-1111-1111-1111-111111111111"
    assert settings.consent_redirect_uri == "https://func-example.azurewebsites.net/api/consent/callback"
    assert settings.sync_time_budget_s == 480.0


def test_public_base_url_must_be_https_unless_local() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(
            {
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                "KEY_VAULT_URL": "https://kv.example",
                "PUBLIC_BASE_URL": "http://example.com",
                "SYNC_TIME_BUDGET_SECONDS": "-1",
            }
        )
    assert set(caught.value.problems) == {"PUBLIC_BASE_URL", "SYNC_TIME_BUDGET_SECONDS"}


def test_the_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", table, flags=re.MULTILINE))
    assert documented == SETTING_NAMES


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"])
def test_a_proxy_in_the_environment_is_used_by_the_storage_clients(variable: str) -> None:
    """Without one, the storage transport does not consult the environment (shared/adapters/http_transport.py)."""
    assert load_settings(_example_values()).storage.proxy_from_env is False
    settings = load_settings({**_example_values(), variable: "http://proxy.example:3128"})
    assert settings.storage.proxy_from_env is True
