"""Control operation for national clouds: move a tenant into another cloud (global, usgov, usgov-dod, china)."""

from __future__ import annotations

from typing import Any

from emulators.entra.clouds import cloud_info
from emulators.entra.state import World


class CloudControlError(Exception):
    """A cloud control request that cannot be carried out (Control maps it to its ControlError)."""


class CloudControl:
    OPERATIONS = frozenset({"set_tenant_cloud"})
    _world: World
    _description: list[dict[str, Any]]

    def set_tenant_cloud(self, tenant: str, cloud: str) -> dict[str, Any]:
        """The tenant lives in `cloud` from now on: its discovery documents name that cloud, its tokens are issued
        only for that cloud's Graph, and only apps registered there work in it. Its own apps (customer, connector
        identity) move with it; service principals of other clouds' apps are removed (their consent with them).
        Returns the tenant's description, whose `multi_tenant` app is now the operator's app of that cloud."""
        try:
            info = cloud_info(cloud)
        except ValueError as exc:
            raise CloudControlError(str(exc)) from exc
        with self._world.lock:
            t = self._world.find_tenant(tenant)
            if t is None:
                raise CloudControlError(f"no tenant {tenant!r}")
            t.cloud = info.name
            for app in self._world.apps.values():
                if app.home_tenant == t.id:
                    app.cloud = info.registry
            for client_id in list(t.service_principals):
                registered = self._world.apps.get(client_id)
                if registered is None or registered.cloud != info.registry:
                    del t.service_principals[client_id]
            operator = next(
                a for a in self._world.apps.values() if a.kind == "multi_tenant" and a.cloud == info.registry
            )
            entry = next((d for d in self._description if d.get("id") == t.id), None)
            if entry is None:
                return {"id": t.id, "cloud": t.cloud}
            entry["cloud"] = t.cloud
            for row in entry["apps"]:
                if row["kind"] == "multi_tenant":
                    row.update(
                        name=operator.name,
                        client_id=operator.client_id,
                        client_secret=operator.secrets[0].value,
                        certificate_path=operator.certificates[0].path,
                        consented_permissions=[],
                    )
            return dict(entry)
