"""The aiohttp transport of the storage clients (the Tables and Queues SDKs and the app's own table requests).

azure-core's default aiohttp session trusts the environment, and aiohttp then looks up ~/.netrc in a worker thread
for every request: a thread hop per request (about a millisecond here, most of a point read's overhead), and a
netrc entry for the storage host would clash with the Authorization header. So the environment is trusted only
when a proxy is configured there (shared/config.py: StorageSettings.proxy_from_env), and a proxy set for the app is
still used."""

from __future__ import annotations

from typing import Any


def storage_transport(trust_env: bool = False) -> Any:
    from azure.core.pipeline.transport import AioHttpTransport

    return AioHttpTransport(use_env_settings=trust_env)
