"""National clouds, pure: the cloud a discovery document names, the mismatch refused at creation, the consent URL
per cloud, the scope kept under local overrides, and the operator app settings per cloud."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from shared.config import load_settings
from shared.domain.clouds import CLOUDS, admin_consent_url, cloud_mismatch, cloud_named, discovered_cloud
from shared.errors import ConfigurationError

BASE = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "KEY_VAULT_URL": "https://kv.example",
    "PUBLIC_BASE_URL": "https://func.example",
    "OPERATOR_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
}


@pytest.mark.parametrize(
    ("document", "cloud"),
    [
        ({"cloud_instance_name": "microsoftonline.com", "msgraph_host": "graph.microsoft.com"}, "global"),
        (  # GCC (moderate) lives in the global cloud
            {
                "cloud_instance_name": "microsoftonline.com",
                "msgraph_host": "graph.microsoft.com",
                "tenant_region_sub_scope": "GCC",
            },
            "global",
        ),
        (
            {
                "cloud_instance_name": "microsoftonline.us",
                "msgraph_host": "graph.microsoft.us",
                "tenant_region_scope": "USGov",
                "tenant_region_sub_scope": "DODCON",
            },
            "usgov",
        ),
        (
            {
                "cloud_instance_name": "microsoftonline.us",
                "msgraph_host": "dod-graph.microsoft.us",
                "tenant_region_scope": "USGov",
                "tenant_region_sub_scope": "DOD",
            },
            "usgov-dod",
        ),
        ({"cloud_instance_name": "microsoftonline.us", "tenant_region_sub_scope": "DOD"}, "usgov-dod"),
        ({"cloud_instance_name": "microsoftonline.us"}, "usgov"),
        (
            {"cloud_instance_name": "partner.microsoftonline.cn", "msgraph_host": "microsoftgraph.chinacloudapi.cn"},
            "china",
        ),
        ({"issuer": "https://login.microsoftonline.com/x/v2.0"}, None),
        ({"cloud_instance_name": "example.org", "msgraph_host": "graph.example.org"}, None),
    ],
)
def test_the_cloud_a_discovery_document_names(document: dict[str, str], cloud: str | None) -> None:
    assert discovered_cloud(document) == cloud


def test_a_tenant_of_another_cloud_is_a_mismatch_and_an_unknown_cloud_is_not() -> None:
    problem = cloud_mismatch("global", "usgov")
    assert problem is not None and "US Government (L4)" in problem and '"cloud": "usgov"' in problem
    assert cloud_mismatch("usgov", "usgov-dod") is not None  # L4 and L5 have different Graph hosts
    assert cloud_mismatch("usgov", "usgov") is None
    assert cloud_mismatch("china", None) is None  # the document named no cloud: not known, not refused


@pytest.mark.parametrize(
    ("cloud", "login", "scope"),
    [
        ("global", "https://login.microsoftonline.com", "https://graph.microsoft.com/.default"),
        ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us/.default"),
        ("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us/.default"),
        ("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/.default"),
    ],
)
def test_the_consent_url_uses_the_clouds_login_host_and_graph_scope(cloud: str, login: str, scope: str) -> None:
    url = admin_consent_url(CLOUDS[cloud], "tid-1", "app-of-that-cloud", "https://func.example/cb", "st")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{login}/tid-1/v2.0/adminconsent"
    assert dict(parse_qsl(parts.query)) == {
        "client_id": "app-of-that-cloud",
        "redirect_uri": "https://func.example/cb",
        "scope": scope,
        "state": "st",
    }


@pytest.mark.parametrize("name", sorted(CLOUDS))
def test_an_override_moves_the_hosts_but_keeps_the_clouds_own_scope(name: str) -> None:
    cloud = cloud_named(name, "https://127.0.0.1:1", "https://127.0.0.1:1")
    assert cloud.login_url == "https://127.0.0.1:1" and cloud.graph_v1 == "https://127.0.0.1:1/v1.0"
    assert cloud.graph_scope == CLOUDS[name].graph_scope
    assert cloud.registry == CLOUDS[name].registry


def test_operator_apps_per_cloud_and_a_missing_one_named_only_when_needed() -> None:
    settings = load_settings(BASE)  # no US Government or China app: nothing to report yet
    assert settings.operator_app("global").client_id == BASE["OPERATOR_CLIENT_ID"]
    assert settings.operator_apps["usgov"].secret_name == "operator-app-credential-usgov"
    assert settings.operator_apps["china"].secret_name == "operator-app-credential-china"
    with pytest.raises(ConfigurationError) as caught:
        settings.operator_app(CLOUDS["usgov-dod"].registry)  # L5 uses the US Government registration
    assert set(caught.value.problems) == {"OPERATOR_CLIENT_ID_USGOV"}
    assert "usgov-dod" in caught.value.problems["OPERATOR_CLIENT_ID_USGOV"]
    with pytest.raises(ConfigurationError) as china:
        settings.operator_app("china")
    assert set(china.value.problems) == {"OPERATOR_CLIENT_ID_CHINA"}
    gov = load_settings(
        {
            **BASE,
            "OPERATOR_CLIENT_ID_USGOV": "22222222-2222-2222-2222-222222222222",
            "OPERATOR_CREDENTIAL_SECRET_NAME_USGOV": "gov-operator",
        }
    )
    assert (gov.operator_app("usgov").client_id, gov.operator_app("usgov").secret_name) == (
        "22222222-2222-2222-2222-222222222222",
        "gov-operator",
    )
    assert gov.operator_client_id == BASE["OPERATOR_CLIENT_ID"]  # the global app is unchanged
