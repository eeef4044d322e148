"""National clouds as the emulator models them: each tenant lives in one cloud, and that cloud decides its Graph
resource (the only one its tokens are issued for), the discovery document's cloud fields and which app
registrations exist for it. Everything is served on one loopback host, so the cloud is told by the scope and the
discovery document, never by the host name.

Learn: "National cloud deployments" (Microsoft Graph: the login and Graph hosts per cloud; an app registration exists
in one cloud: global, Azure US Government for both L4 and L5, or China), "Access national cloud deployments with the
Microsoft Graph SDKs" (a scope must use the Graph host of the tenant's cloud, e.g. https://graph.microsoft.us/.default)
and "OpenID Connect on the Microsoft identity platform" (the metadata document's `cloud_instance_name`,
`msgraph_host`, `tenant_region_scope`, `tenant_region_sub_scope`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CloudInfo:
    name: str  # global | usgov | usgov-dod | china
    registry: str  # where apps are registered: global | usgov (L4 and L5 alike) | china
    graph_host: str  # msgraph_host; the Graph resource is https://{graph_host}
    login_host: str
    cloud_instance_name: str
    region_scope: str
    region_sub_scope: str | None  # None: the document has no such field
    sts_host: str  # host of the v1.0 issuer

    @property
    def graph_resource(self) -> str:
        return f"https://{self.graph_host}"


CLOUDS: dict[str, CloudInfo] = {
    "global": CloudInfo(
        "global",
        "global",
        "graph.microsoft.com",
        "login.microsoftonline.com",
        "microsoftonline.com",
        "EU",
        None,
        "sts.windows.net",
    ),
    "usgov": CloudInfo(
        "usgov",
        "usgov",
        "graph.microsoft.us",
        "login.microsoftonline.us",
        "microsoftonline.us",
        "USGov",
        "DODCON",
        "sts.windows.net",
    ),
    "usgov-dod": CloudInfo(
        "usgov-dod",
        "usgov",
        "dod-graph.microsoft.us",
        "login.microsoftonline.us",
        "microsoftonline.us",
        "USGov",
        "DOD",
        "sts.windows.net",
    ),
    "china": CloudInfo(
        "china",
        "china",
        "microsoftgraph.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        "partner.microsoftonline.cn",
        "AS",
        None,
        "sts.chinacloudapi.cn",
    ),
}
REGISTRIES = ("global", "usgov", "china")  # one operator app is registered in each
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's app id: the same resource in every cloud
GRAPH_RESOURCES = frozenset(c.graph_resource for c in CLOUDS.values())


def cloud_info(name: str) -> CloudInfo:
    if name not in CLOUDS:
        raise ValueError(f"cloud must be one of {tuple(CLOUDS)}, got {name!r}")
    return CLOUDS[name]


def graph_resource_named(resource: str) -> str | None:
    """The Graph resource a scope's resource part names (any cloud's host, with or without '/'), else None."""
    trimmed = resource.rstrip("/")
    return trimmed if trimmed in GRAPH_RESOURCES else None


def discovery_fields(name: str) -> dict[str, str]:
    """The cloud's part of a tenant's OpenID metadata document."""
    info = cloud_info(name)
    fields = {
        "tenant_region_scope": info.region_scope,
        "cloud_instance_name": info.cloud_instance_name,
        "msgraph_host": info.graph_host,
    }
    if info.region_sub_scope is not None:
        fields["tenant_region_sub_scope"] = info.region_sub_scope
    return fields
