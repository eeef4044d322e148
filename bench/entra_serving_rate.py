"""Measure how fast the Entra emulator serves user pages: `python bench/entra_serving_rate.py [--size N]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def measure(size: int, top: int, select: str | None) -> dict[str, float]:
    import httpx

    from emulators.entra.server import EntraEmulator

    started = time.perf_counter()
    with EntraEmulator(seed="bench", size=size, tenants=1) as entra:
        seeded = time.perf_counter() - started
        tenant = entra.tenants[0]
        app = next(a for a in tenant["apps"] if a["kind"] == "customer")
        verify = ssl.create_default_context(cafile=entra.ca_path)
        async with httpx.AsyncClient(verify=verify, base_url=entra.login_url, timeout=60) as http:
            token = (
                await http.post(
                    f"/{tenant['id']}/oauth2/v2.0/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": app["client_id"],
                        "client_secret": app["client_secret"],
                        "scope": "https://graph.microsoft.com/.default",
                    },
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            results: dict[str, float] = {"users": float(size), "seed_s": seeded}
            for label in ("cold", "warm"):  # cold: objects serialised for the first time; warm: cached JSON
                url: str | None = f"/v1.0/users?$top={top}" + (f"&$select={select}" if select else "")
                count = 0
                began = time.perf_counter()
                while url:
                    page = json.loads((await http.get(url, headers=headers)).content)
                    count += len(page["value"])
                    url = page.get("@odata.nextLink")
                elapsed = time.perf_counter() - began
                assert count == size, count
                results[f"{label}_users_per_s"] = count / elapsed
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=999)
    parser.add_argument("--select", default=None, help="e.g. id,displayName,userPrincipalName,accountEnabled")
    args = parser.parse_args()
    results = asyncio.run(measure(args.size, args.top, args.select))
    print(json.dumps({k: round(v, 1) for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
