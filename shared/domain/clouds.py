"""National clouds: each has its own login host, Graph host and scope, and its own operator app registration (one
for both US Government clouds); the tenant's discovery document tells its cloud. An override points a cloud's hosts
at an emulator but keeps the cloud's own Graph scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

# Where an app is registered (Learn: "National cloud deployments": one portal per cloud; Azure US Government serves
# both L4 and L5) and its human name, for settings and messages.
REGISTRIES: dict[str, str] = {"global": "global", "usgov": "US Government", "china": "China (21Vianet)"}


@dataclass(frozen=True)
class Cloud:
    name: str
    login_url: str  # authority host, https://...
    graph_url: str  # Graph root without version, https://...
    registry: str = "global"  # where its apps are registered: a key of REGISTRIES
    title: str = "global"

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_url}/.default"

    @property
    def graph_v1(self) -> str:
        return f"{self.graph_url}/v1.0"


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": Cloud(
        "usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us", "usgov", "US Government (L4)"
    ),
    "usgov-dod": Cloud(
        "usgov-dod",
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "usgov",
        "US Government DoD (L5)",
    ),
    "china": Cloud(
        "china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn", "china", "China"
    ),
}
# The discovery document's `cloud_instance_name` per cloud (Learn: "OpenID Connect on the Microsoft identity platform").
INSTANCES = {"microsoftonline.com": "global", "microsoftonline.us": "usgov", "partner.microsoftonline.cn": "china"}


def cloud_named(name: str, login_override: str | None = None, graph_override: str | None = None) -> Cloud:
    """The cloud by name; overrides (local runs against the emulator) replace its hosts but keep the cloud's own
    Graph scope (https://graph.microsoft.us/.default for usgov): tokens are requested for the real resource."""
    base = CLOUDS[name]
    if not login_override and not graph_override:
        return base
    return _OverriddenCloud(
        name=base.name,
        login_url=(login_override or base.login_url).rstrip("/"),
        graph_url=(graph_override or base.graph_url).rstrip("/"),
        registry=base.registry,
        title=base.title,
        resource=base.graph_url,
    )


@dataclass(frozen=True)
class _OverriddenCloud(Cloud):
    resource: str = ""

    @property
    def graph_scope(self) -> str:
        return f"{self.resource}/.default"


def discovered_cloud(document: Mapping[str, Any]) -> str | None:
    """The cloud a tenant's OpenID configuration names: by `msgraph_host` first (it alone tells L4 from L5), else
    by `cloud_instance_name` and `tenant_region_sub_scope` ("DOD": L5). None when the document names neither."""
    host = str(document.get("msgraph_host") or "").lower().rstrip("/")
    for cloud in CLOUDS.values():
        if host == cloud.graph_url.removeprefix("https://"):
            return cloud.name
    instance = INSTANCES.get(str(document.get("cloud_instance_name") or "").lower())
    if instance == "usgov" and str(document.get("tenant_region_sub_scope") or "").upper() == "DOD":
        return "usgov-dod"
    return instance


def cloud_mismatch(requested: str, discovered: str | None) -> str | None:
    """A validation problem when the tenant's discovery document names another cloud than the one requested; None
    when they agree or the document names no cloud (unknown is not a mismatch)."""
    if discovered is None or discovered == requested or discovered not in CLOUDS:
        return None
    return (
        f"the tenant is in the {CLOUDS[discovered].title} cloud ({discovered!r}), not {requested!r}: "
        f'create the connection with "cloud": "{discovered}"'
    )


def admin_consent_url(cloud: Cloud, tenant_id: str, client_id: str, redirect_uri: str, state: str) -> str:
    """The tenant's admin-consent page on its cloud's login host, asking for that cloud's Graph `/.default` with the
    operator app registered in that cloud (Learn: "Microsoft identity platform admin consent protocols")."""
    query = urlencode(
        {"client_id": client_id, "redirect_uri": redirect_uri, "scope": cloud.graph_scope, "state": state}
    )
    return f"{cloud.login_url}/{tenant_id}/v2.0/adminconsent?{query}"
