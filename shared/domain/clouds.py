"""National clouds: each has its own login host, Graph host and scope; an override points one at an emulator."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    name: str
    login_url: str  # authority host, https://...
    graph_url: str  # Graph root without version, https://...

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_url}/.default"

    @property
    def graph_v1(self) -> str:
        return f"{self.graph_url}/v1.0"


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "usgov-dod": Cloud("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": Cloud("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
}


def cloud_named(name: str, login_override: str | None = None, graph_override: str | None = None) -> Cloud:
    """The cloud by name; overrides (local runs against the emulator) replace its hosts but keep the Graph
    scope host, since tokens are requested for the real resource id (https://graph.microsoft.com)."""
    base = CLOUDS[name]
    if not login_override and not graph_override:
        return base
    return _OverriddenCloud(
        name=base.name,
        login_url=(login_override or base.login_url).rstrip("/"),
        graph_url=(graph_override or base.graph_url).rstrip("/"),
        resource=base.graph_url,
    )


@dataclass(frozen=True)
class _OverriddenCloud(Cloud):
    resource: str = ""

    @property
    def graph_scope(self) -> str:
        return f"{self.resource}/.default"
