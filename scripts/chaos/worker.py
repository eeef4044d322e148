"""A stand-in for the Functions host's queue listener, run as its own process by the reliability suite (so it can be
killed with SIGKILL): it takes messages from one queue and invokes the app's queue function with each, as the host
does (hidden while it runs and kept hidden by renewals, deleted on success, visible again soon after a failure,
moved to `<queue>-poison` after maxDequeueCount), and writes every log record as one JSON line to a file."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import sys
import time
from typing import Any

MAX_DEQUEUE = 5  # host.json extensions.queues.maxDequeueCount
RETRY_AFTER_FAILURE_S = 1  # the host makes a failed message visible again (host.json: 30 s; shorter here)


class JsonLines(logging.Handler):
    """Every record, with the job's ids, as one flushed line: a SIGKILL loses at most the line being written."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(logging.DEBUG)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)
        self._name = name

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a bad log call must not end the worker)
            message = str(record.msg)
        line = {
            "t": record.created,
            "worker": self._name,
            "pid": os.getpid(),
            "logger": record.name,
            "level": record.levelname,
            "message": message,
            "connection_id": getattr(record, "connection_id", None),
            "run_id": getattr(record, "run_id", None),
        }
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = repr(record.exc_info[1])
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()


def _logging(path: str, name: str) -> None:
    root = logging.getLogger()
    root.addHandler(JsonLines(path, name))
    root.setLevel(logging.INFO)
    logging.getLogger("shared").setLevel(logging.DEBUG)
    logging.getLogger("functions").setLevel(logging.DEBUG)
    # the SDK's request/response lines (headers included) are scanned for secrets too, as in the integration tests
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.INFO)


async def _renew(queue: Any, message: Any, visibility_s: int) -> None:
    """Keep the message hidden while the function runs (the host does the same)."""
    while True:
        await asyncio.sleep(visibility_s / 2)
        with contextlib.suppress(Exception):
            receipt = await queue.update_message(message, visibility_timeout=visibility_s)
            message.pop_receipt = receipt.pop_receipt


async def serve(function: str, queue_name: str, visibility_s: int) -> None:
    import azure.functions as func
    from azure.core.exceptions import AzureError
    from azure.storage.queue import BinaryBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    from scripts.host import acall, registered_functions

    log = logging.getLogger("chaos.worker")
    registered_functions()  # the host indexes the app before it takes messages
    log.info("chaos.host ready %s", function)
    conn = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 (the host's own name)
    quiet = logging.getLogger("chaos.host.polling")  # the stand-in host's own polling is not the app's traffic
    quiet.setLevel(logging.WARNING)
    queue = QueueClient.from_connection_string(conn, queue_name, logger=quiet)
    poison = QueueClient.from_connection_string(
        conn, f"{queue_name}-poison", message_encode_policy=BinaryBase64EncodePolicy(), logger=quiet
    )
    async with queue, poison:
        while True:
            try:
                message = None
                async for found in queue.receive_messages(messages_per_page=1, visibility_timeout=visibility_s):
                    message = found
                    break
            except Exception as exc:  # noqa: BLE001 (no queue yet, storage down or restarting: the host tries again)
                log.info("chaos.host receive failed: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                await asyncio.sleep(0.2)
                continue
            body = base64.b64decode(message.content)
            if (message.dequeue_count or 0) > MAX_DEQUEUE:
                with contextlib.suppress(AzureError):
                    await poison.send_message(body)
                    await queue.delete_message(message)
                log.warning("chaos.host poison %s after %d dequeues", queue_name, message.dequeue_count)
                continue
            log.info("chaos.host invoke.start %s %s", function, message.id)
            renew = asyncio.create_task(_renew(queue, message, visibility_s))
            try:
                await acall(function, func.QueueMessage(id=message.id, body=body))
            except Exception as exc:  # noqa: BLE001 (the host catches what the function raises, then retries)
                renew.cancel()
                log.warning("chaos.host invoke.failed %s %s: %s", function, message.id, type(exc).__name__)
                with contextlib.suppress(Exception):
                    await queue.update_message(message, visibility_timeout=RETRY_AFTER_FAILURE_S)
                continue
            renew.cancel()
            with contextlib.suppress(Exception):  # storage down: the message comes back and runs again (idempotent)
                await queue.delete_message(message)
            log.info("chaos.host invoke.end %s %s", function, message.id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--function", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--env", required=True, help="JSON file with the app settings")
    parser.add_argument("--log", required=True, help="JSON-lines file for every log record")
    parser.add_argument("--name", required=True)
    parser.add_argument("--visibility", type=int, default=10)
    args = parser.parse_args(argv)
    with open(args.env, encoding="utf-8") as handle:
        os.environ.update(json.load(handle))
    _logging(args.log, args.name)
    logging.getLogger("chaos.worker").info("chaos.host started %s at %.3f", args.name, time.time())
    try:
        asyncio.run(serve(args.function, args.queue, args.visibility))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
