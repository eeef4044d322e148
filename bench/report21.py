"""The issue-21 part of docs/benchmarks.md: latency-bound and throttled full syncs, operator scale, cost per row and
the sync job's cold start; their targets (bench/report.py adds them to the targets table)."""

from __future__ import annotations

from typing import Any

Target = tuple[str, str, bool | None]


def _sizes_with(results: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [s for s in results.get("sizes", []) if key in s]


def _handed(row: dict[str, Any]) -> str:
    if row.get("fanout_messages"):
        return (
            f"{row['tick_enqueued']:,} handed to {row['fanout_messages']} fan-out messages, whose worker sent"
            f" {row.get('fanout_jobs_sent', 0):,} jobs in {row.get('fanout_worker_s', 0):.2f} s"
        )
    return f"{row['tick_enqueued']:,} jobs sent"


def _ceiling(results: dict[str, Any], size: dict[str, Any]) -> float | None:
    from bench.report import mix_ceiling

    return mix_ceiling(results, size)


def targets(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    settings = results.get("settings", {})
    for s in _sizes_with(results, "connector_full_slow"):
        slow, fast = s["connector_full_slow"], s["connector_full"]
        ratio = slow["wall_s"] / fast["wall_s"]
        out.append(
            (
                f"full sync, {settings.get('slow_ms', 250)} ms on every Graph request ({s['size']:,} users) <= 1.3x "
                "its time without",
                f"{slow['wall_s']:.1f} s / {fast['wall_s']:.1f} s = {ratio:.2f}x",
                ratio <= 1.3,
            )
        )
    largest = max(results.get("sizes", []), key=lambda s: s["size"], default=None)
    if largest:
        runs = [largest["connector_full"], *(r for r in [largest.get("connector_full_slow")] if r)]
        n429 = sum(r.get("graph_429s", 0) for r in runs)
        units = largest["connector_full"].get("resource_units")
        fast = largest["connector_full"]
        per_10s = units / fast["wall_s"] * 10 if units else None
        measured = f"{n429} 429s in {len(runs)} full run(s)"
        if per_10s is not None:
            measured += f"; {units:,} resource units, {per_10s:,.0f} per 10 s on average (limit 8,000)"
        out.append((f"zero 429s at default limits ({largest['size']:,} users)", measured, n429 == 0))
    for s in _sizes_with(results, "connector_full_throttled"):
        thr = s["connector_full_throttled"]
        same = thr["outcome"] == "succeeded" and thr["directory_entity_writes"] == thr["objects"]
        out.append(
            (
                f"limits x{settings.get('throttle_scale')}: the run completes with the same copy ({s['size']:,} users)",
                f"{thr['graph_429s']} 429s honoured; {thr['directory_entity_writes']:,} rows for "
                f"{thr['objects']:,} objects; {thr['wall_s']:.1f} s",
                same if thr["graph_429s"] else None,  # None: the lowered limit was never reached
            )
        )
        if not thr["graph_429s"]:
            out.append(
                (
                    "(lowered limits not reached by this run: its requests came slower than the bucket refills)",
                    "429s honoured with the same copy: tests/integration/sync/test_throttled_sync.py",
                    None,
                )
            )
    if not _sizes_with(results, "connector_full_slow"):
        lat = next(iter(_sizes_with(results, "connector_full_latency")), None)
        if lat:
            ratio = lat["connector_full_latency"]["wall_s"] / lat["connector_full"]["wall_s"]
            out.append(
                (
                    "full sync with latency <= 1.3x its time without (the 50k / 250 ms run did not finish; stand-in:"
                    f" {lat['size']:,} users, 150 ms)",
                    f"{lat['connector_full_latency']['wall_s']:.1f} s / {lat['connector_full']['wall_s']:.1f} s ="
                    f" {ratio:.2f}x",
                    None,
                )
            )
    op = (results.get("operator") or {}).get("counts") or []
    if op:
        top = op[-1]
        out.append(
            (
                f"scheduler tick at {top['connections']:,} connections < 5 s",
                f"{top['tick_s']:.2f} s with every connection due ({_handed(top)}); {top['idle_tick_s']:.2f} s"
                " with none due",
                top["tick_s"] < 5,
            )
        )
        out.append(
            (
                f"scheduler tick at {top['connections']:,} connections < 150 MB",
                f"{top['peak_rss_mb']:.0f} MB (the worker process's peak, seeding included)",
                top["peak_rss_mb"] < 150,
            )
        )
        lists = [r["list_page_s"] for r in op]
        stats = [r["status_s"] for r in op]
        flat_list = max(lists) <= 2 * min(lists) + 0.05
        flat_status = max(stats) <= 2 * min(stats) + 0.05
        counts = " / ".join(f"{r['connections']:,}" for r in op)
        out.append(
            (
                f"listing connections flat ({counts})",
                " / ".join(f"{t:.2f} s" for t in lists)
                + " (first page of 10; of 100: "
                + " / ".join(f"{r.get('list_page100_s', 0):.2f} s" for r in op)
                + ")",
                flat_list,
            )
        )
        out.append(
            (f"one connection's status flat ({counts})", " / ".join(f"{t * 1000:.0f} ms" for t in stats), flat_status)
        )
    if largest:
        fast = largest["connector_full"]
        ceiling = _ceiling(results, largest)
        if fast.get("rows_per_cpu_s"):
            out.append(
                (
                    "directory rows written per CPU-second reported",
                    f"{fast['rows_per_cpu_s']:,.0f} rows/CPU-s ({fast['cpu_s']:.1f} CPU-s for"
                    f" {fast['directory_entity_writes']:,} rows, {largest['size']:,} users)",
                    True,
                )
            )
        if ceiling:
            share = fast["write_rate"] / ceiling
            out.append(
                (
                    "full sync's write rate >= 85% of Azurite's batched ceiling (same row mix)",
                    f"{fast['write_rate']:,.0f} / {ceiling:,.0f} entities/s = {share:.0%}",
                    share >= 0.85,
                )
            )
    cold = results.get("coldjob") or []
    if cold:
        best = min(cold, key=lambda c: c["total_s"])
        package = results.get("package") or {}
        out.append(
            (
                "sync job's first invocation in a fresh process reported, package size beside it",
                f"{best['total_s']:.2f} s (best of {len(cold)}: imports {best['import_function_app_s']:.2f} +"
                f" {best['worker_imports_s']:.2f} s, first token {best['first_token_s']:.2f} s, first page"
                f" {best['first_page_s']:.2f} s); package {package.get('zip_mb', 0):.1f} MB zipped",
                True,
            )
        )
    return out


def sections(results: dict[str, Any]) -> list[str]:
    settings = results.get("settings", {})
    lines: list[str] = []
    rows = []
    for s in results.get("sizes", []):
        for key, what in (
            ("connector_full", "default"),
            ("connector_full_slow", f"+{settings.get('slow_ms', 250)} ms on every Graph request"),
            ("connector_full_throttled", f"limits x{settings.get('throttle_scale')}"),
            ("connector_full_latency", "+150 ms (earlier target)"),
        ):
            r = s.get(key)
            if not r:
                continue
            rows.append(
                f"| {s['size']:,} | {what} | {r['wall_s']:.1f} | {r['graph_requests']:,} |"
                f" {r.get('graph_429s', 'n/a')} |"
                f" {r.get('resource_units', 0):,} | {r['directory_entity_writes']:,} | {r['write_rate']:,.0f} |"
                f" {r.get('cpu_s', 0):.1f} | {r.get('rows_per_cpu_s') or 0:,.0f} |"
            )
    if rows:
        lines += [
            "",
            "## Full sync under latency and throttling; cost per row",
            "",
            "Each a full sync into a fresh Azurite, in its own process. 429s: Graph answers with status 429 (counted",
            "by an httpx response hook); resource units as the emulator charged them (`x-aad-resource-unit`); CPU-s:",
            "the sync process's own CPU time (`time.process_time`, user + system) during the run.",
            "",
            "| size | Graph | wall s | Graph requests | 429s | resource units | directory rows | rows/s | CPU-s"
            " | rows per CPU-s |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    op = (results.get("operator") or {}).get("counts") or []
    if op:
        lines += [
            "",
            "## Operator scale",
            "",
            "Connections written to a fresh Azurite as the product stores them (row + status row), all due now;",
            "the scheduler tick as the timer runs it (`enqueue_due`), first with every connection due (the worst",
            "case, everyone on the default schedule: up to 100 due, the tick sends each job and then marks the",
            "slots 100 to a transaction; more, it sends one fan-out message per 100 connections and the",
            "`sync_fanout` queue worker sends their jobs and marks their slots: its time, summed over the",
            "messages as if one instance took them all, is the fan-out column), then again (none due); the first",
            "page of `GET /connections` (`list_connections_page`, top 10 at every count, and top 100) and one",
            "connection's `/status` (`sync_api.status`), median of 3.",
            "",
            "| connections | tick, all due s | enqueued | fan-out messages | fan-out worker s | tick, none due s"
            " | peak RSS MB | listing, page of 10 s | page of 100 s | status ms |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| {r['connections']:,} | {r['tick_s']:.2f} | {r['tick_enqueued']:,} |"
                f" {r.get('fanout_messages', 0):,} | {r.get('fanout_worker_s', 0):.2f} | {r['idle_tick_s']:.2f} |"
                f" {r['peak_rss_mb']:.0f} | {r['list_page_s']:.2f} | {r.get('list_page100_s', 0):.2f} |"
                f" {r['status_s'] * 1000:.0f} |"
                for r in op
            ),
        ]
    cold = results.get("coldjob") or []
    if cold:
        lines += [
            "",
            "## Cold start of a sync job",
            "",
            "A fresh process (1,000-user tenant): `import function_app` (what the host's indexing loads), the",
            "modules the sync worker imports on first use (SDKs, services), the first token from the emulated",
            "login, then the first page of the user listing.",
            "",
            "| run | import function_app s | worker imports s | first token s | first page s | total s | RSS MB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| {i} | {c['import_function_app_s']:.2f} | {c['worker_imports_s']:.2f} | {c['first_token_s']:.2f} |"
                f" {c['first_page_s']:.2f} | {c['total_s']:.2f} | {c['rss_mb']:.0f} |"
                for i, c in enumerate(cold, 1)
            ),
        ]
    cut = results.get("cut_short")
    if cut:
        lines += ["", "## This run", "", *cut]
    difference = results.get("difference")
    if difference:  # written by hand after the run (before/after figures of each change), kept in results.json
        lines += ["", "## What made the difference (issue 21)", "", *difference]
    load = results.get("load")
    if load:
        lines += [
            "",
            "## Load on the machine during this run",
            "",
            "Every figure above was taken under this load (other engineers' test runs, when any, count in it)",
            "(`uptime` before and after; 2 cores).",
            "",
            f"- before: {load.get('before', '?')}",
            f"- after: {load.get('after', '?')}",
        ]
    return lines
