"""`make demo`: start the local stack (Azurite, later the emulated tenant) and walk through the main job end to end."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import Iterator
from types import FrameType

from emulators.azurite import Azurite, start_azurite
from shared.adapters.table_store import TableStore, etag_of
from shared.errors import ConcurrencyConflict


def say(text: str) -> None:
    print(text, flush=True)


async def store_walkthrough(azurite: Azurite) -> None:
    say("\n== Table Storage (Azurite) ==")
    async with TableStore.from_connection_string(azurite.connection_string) as store:
        rows = [{"PartitionKey": "demo", "RowKey": f"user-{i:03d}", "displayName": f"User {i}"} for i in range(250)]
        written = await store.upsert_many("demousers", rows)
        count = len([row async for row in store.query("demousers", "PartitionKey eq @pk", {"pk": "demo"})])
        say(f"wrote {written} entities in transactions of at most 100; read back {count}")
        lease = await store.get("demousers", "demo", "user-000")
        assert lease is not None
        stale = etag_of(lease)
        assert stale is not None
        await store.update_if_match("demousers", {**lease, "displayName": "Renamed"}, stale)
        try:
            await store.update_if_match("demousers", {**lease, "displayName": "Lost update"}, stale)
        except ConcurrencyConflict as exc:
            say(f"a stale ETag is refused: {exc.message}")
        else:
            raise AssertionError("a stale write went through")


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so every started process is stopped by its context manager."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    with stop_on_sigterm(), tempfile.TemporaryDirectory(prefix="connector-demo-") as workdir:
        say("starting Azurite (in memory, loopback, free ports)...")
        with start_azurite(log_dir=workdir) as azurite:
            say(f"Azurite is up: tables on 127.0.0.1:{azurite.table_port}, queues on 127.0.0.1:{azurite.queue_port}")
            asyncio.run(store_walkthrough(azurite))
        say("\nall processes stopped; demo finished")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: every process the demo started has been stopped", file=sys.stderr)
        sys.exit(130)
