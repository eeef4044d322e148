"""`make bench`: the connector's full and incremental sync against the straightforward msgraph-sdk approach, at
1k / 10k / 50k users, against the Entra emulator and Azurite; plus Azurite's batched-write ceiling, cold start and
the deployment package (bench/package.py).

    python -m bench.run [--sizes 1000,10000,50000] [--latency-size 10000] [--baseline-cap 20000] [--profile]
    python -m bench.run --quick     (development: about 4 minutes; results in .bench/, docs untouched)

Every measured run is a fresh Python process (bench/worker.py); the emulator and Azurite are processes of their own.
Results: bench/results.json and docs/benchmarks.md (see bench/report.py for the targets and how they are judged)."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import REPO, EntraProcess, entra
from bench.report import machine_details, write_markdown

OUT_DIR = REPO / ".bench"
RESULTS = REPO / "bench" / "results.json"
DOC = REPO / "docs" / "benchmarks.md"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def worker(kind: str, cfg: dict[str, Any], timeout_s: float = 1800) -> dict[str, Any]:
    began = time.perf_counter()
    OUT_DIR.mkdir(exist_ok=True)
    cfg_file = OUT_DIR / f"worker-{kind}-{uuid.uuid4().hex[:8]}.json"  # a file: change lists outgrow argv
    cfg_file.write_text(json.dumps(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", kind, f"@{cfg_file}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    cfg_file.unlink(missing_ok=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT:")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {kind} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT:") :])
    result["process_s"] = time.perf_counter() - began
    return result


def tenant_config(emulator: EntraProcess) -> dict[str, Any]:
    d = emulator.description
    tenant = d["tenants"][0]
    app = next(a for a in tenant["apps"] if a["kind"] == "customer")
    return {
        "tenant_id": tenant["id"],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "login_url": d["login_url"],
        "graph_url": d["graph_url"],
        "ca_path": d["ca_path"],
        "sync_group_id": tenant["sync_group"]["id"],
        "control_url": d["control_url"],
    }


def truth_counts(emulator: EntraProcess, tenant_id: str) -> tuple[dict[str, int], dict[str, Any]]:
    truth = emulator.control("ground_truth", tenant=tenant_id)
    counts = {"users": len(truth["users"]), "groups": len(truth["groups"]), "memberships": len(truth["memberships"])}
    counts["objects"] = sum(counts.values())
    return counts, truth


def plan_changes(
    tenant_id: str, truth: dict[str, Any], seed: int, exclude: frozenset[str] = frozenset()
) -> tuple[list[list[Any]], dict[str, int], set[str]]:
    """1% of the in-scope users (none of `exclude`), as emulator control operations: 80% attribute updates, 10%
    added to a group, 10% removed from a group that is not part of the sync scope chain (so they stay in scope).
    Each change is exactly one row to rewrite. Returns (operations, counts by kind, the users chosen)."""
    rng = random.Random(seed)
    users = sorted(set(truth["users"]) - exclude)
    n = max(10, round(len(truth["users"]) * 0.01))
    chosen = rng.sample(users, n)
    chain = {gid for gid, name in truth["groups"].items() if name.startswith(("Connector Sync Scope", "Sync Tier"))}
    other_groups = sorted(g for g in truth["groups"] if g not in chain)
    links: dict[str, set[str]] = {}
    for gid, uid in truth["memberships"]:
        links.setdefault(uid, set()).add(gid)
    n_add = n_remove = n // 10
    ops: list[list[Any]] = []
    done = {"user.updated": 0, "membership.added": 0, "membership.removed": 0}
    for index, uid in enumerate(chosen):
        if index < n_add:
            candidates = [g for g in other_groups if g not in links.get(uid, set())]
            if candidates:
                ops.append(["add_member", {"tenant": tenant_id, "group_id": rng.choice(candidates), "member_id": uid}])
                done["membership.added"] += 1
                continue
        elif index < n_add + n_remove:
            candidates = sorted(g for g in links.get(uid, set()) if g not in chain)
            if candidates:
                ops.append(
                    ["remove_member", {"tenant": tenant_id, "group_id": rng.choice(candidates), "member_id": uid}]
                )
                done["membership.removed"] += 1
                continue
        ops.append(["update_user", {"tenant": tenant_id, "user_id": uid, "jobTitle": f"Benchmark role {seed}-{index}"}])
        done["user.updated"] += 1
    done["total"] = sum(done.values())
    return ops, done, set(chosen)


def apply_changes(emulator: EntraProcess, ops: list[list[Any]]) -> None:
    for operation, arguments in ops:
        if not emulator.control(operation, **arguments):
            raise RuntimeError(f"the emulator did not apply {operation} {arguments}")


def code_fingerprint() -> str:
    """A hash of the connector's code (shared/, functions/, function_app.py): others edit it while the benchmark
    runs, so every connector run records which version it measured."""
    digest = hashlib.sha256()
    for path in sorted([*REPO.glob("shared/**/*.py"), *REPO.glob("functions/**/*.py"), REPO / "function_app.py"]):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def connector_run(cfg: dict[str, Any], emulator: EntraProcess, truth: dict[str, int]) -> dict[str, Any]:
    emulator.control("counters", reset=True)
    fingerprint = code_fingerprint()
    result = worker("connector", cfg)
    result["code"] = fingerprint if fingerprint == code_fingerprint() else f"{fingerprint} (changed during the run)"
    result["emulator_counters"] = emulator.control("counters", reset=True)
    result["objects"] = truth["objects"]
    result["objects_per_s"] = truth["objects"] / result["wall_s"]
    result["write_rate"] = result["directory_entity_writes"] / result["wall_s"]
    return result


def extrapolate(phase: dict[str, Any], total: int) -> tuple[float, float, float]:
    """(time, Graph requests, Table requests) of a whole phase of `total` objects from a capped one: the first
    WARMUP objects as measured (one-off costs), the rest at the rate measured after them."""
    if phase["complete"]:
        return phase["wall_s"], phase["graph_requests"], phase["table_requests"]
    w = phase.get("warmup_objects", 0)
    warm_s, warm_g, warm_t = (phase["warm_s"], phase["warm_graph"], phase["warm_table"]) if w else (0.0, 0, 0)
    scale = (total - w) / (phase["objects"] - w)
    return (
        warm_s + (phase["wall_s"] - warm_s) * scale,
        warm_g + (phase["graph_requests"] - warm_g) * scale,
        warm_t + (phase["table_requests"] - warm_t) * scale,
    )


def baseline_run(
    cfg: dict[str, Any], emulator: EntraProcess, truth: dict[str, int], cap: int | None, scope: list[str]
) -> dict[str, Any]:
    """The baseline, capped at `cap` objects per phase; `scope` (the in-scope user ids of the ground truth) lets a
    capped scope listing hand the later phases the scope the full listing would have given."""
    emulator.control("counters", reset=True)
    result = worker("baseline", {**cfg, "cap": cap, "scope": scope if cap else []}, timeout_s=3600)
    result["emulator_counters"] = emulator.control("counters", reset=True)
    result["objects"] = truth["objects"]
    phases = result["phases"]
    if result["capped"]:
        totals = {
            "scope": truth["users"],
            "users": truth["users"],
            "groups_and_memberships": truth["groups"] + truth["memberships"],
        }
        estimate, graph_requests, table_requests = 0.0, 0.0, 0.0
        for name, total in totals.items():
            t, g, w = extrapolate(phases[name], total)
            estimate, graph_requests, table_requests = estimate + t, graph_requests + g, table_requests + w
        result["measured_wall_s"] = result["wall_s"]
        result["wall_s"] = estimate
        result["extrapolated"] = True
        result["measured_graph_requests"] = result["graph_requests"]
        result["graph_requests"] = round(graph_requests)
        result["measured_table_requests"] = result["table_requests"]
        result["table_requests"] = {"total": round(table_requests)}
    else:
        result["extrapolated"] = False
    result["objects_per_s"] = truth["objects"] / result["wall_s"]
    return result


def reused(args: argparse.Namespace, size: int, key: str, counts: dict[str, int]) -> dict[str, Any] | None:
    """A baseline result from an earlier results.json (--baselines-from): the baseline does not depend on the
    connector's code, and it is most of the run's time. Only for the same tenant (same ground-truth counts)."""
    earlier = args.earlier
    if not earlier:
        return None
    for s in earlier["sizes"]:
        if s["size"] == size and key in s and s["truth"] == counts:
            return {**s[key], "reused_from": f"{args.baselines_from} ({earlier['machine']['date']})"}
    return None


def size_scenarios(size: int, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    from emulators.azurite import start_azurite

    out: dict[str, Any] = {"size": size}
    with entra(size, f"bench-{size}", log_dir) as emulator:
        cfg = tenant_config(emulator)
        out["seed_s"] = emulator.seed_s
        counts, truth = truth_counts(emulator, cfg["tenant_id"])
        out["truth"] = counts
        log(f"{size} users: emulator up in {emulator.seed_s:.1f} s; in scope {counts}")
        cap = args.baseline_cap
        with start_azurite(str(log_dir)) as azurite:
            run_cfg = {**cfg, "storage": azurite.connection_string, "connection_id": f"c{uuid.uuid4().hex[:12]}"}
            # a second full sync into a fresh partition follows in the same worker process: the steady state
            second = {"connection_id": f"c{uuid.uuid4().hex[:12]}", "mode": "full"}
            full_cfg = {**run_cfg, "mode": "full"}
            if size <= args.steady_full_max:  # a second full sync in the same worker (skipped above the limit)
                full_cfg["then"] = second
            out["connector_full"] = connector_run(full_cfg, emulator, counts)
            again = out["connector_full"].get("second_invocation")
            log(
                f"  connector full: {out['connector_full']['wall_s']:.1f} s"
                + (f"; second invocation {again['wall_s']:.1f} s" if again else "")
            )
            with start_azurite(str(log_dir)) as other:
                base_cfg = {**cfg, "storage": other.connection_string, "connection_id": "baseline"}
                out["baseline_full"] = reused(args, size, "baseline_full", counts) or baseline_run(
                    base_cfg, emulator, counts, cap, sorted(truth["users"])
                )
            log(
                f"  baseline full: {out['baseline_full']['wall_s']:.1f} s"
                + (" (extrapolated)" if out["baseline_full"]["extrapolated"] else "")
            )
            if size == min(args.sizes) and args.check_extrapolation and reused(args, size, "baseline_full", counts):
                out["baseline_extrapolation_check"] = reused(args, size, "baseline_extrapolation_check", counts)
            elif size == min(args.sizes) and args.check_extrapolation:
                # the same baseline, capped at half of each phase: is the extrapolation close to the measurement?
                check_cap = max(400, min(counts["users"], counts["groups"] + counts["memberships"]) // 2)
                with start_azurite(str(log_dir)) as other:
                    base_cfg = {**cfg, "storage": other.connection_string, "connection_id": "baseline"}
                    out["baseline_extrapolation_check"] = baseline_run(
                        base_cfg, emulator, counts, check_cap, sorted(truth["users"])
                    )
                log(
                    f"  baseline capped at {check_cap}/phase, extrapolated: "
                    f"{out['baseline_extrapolation_check']['wall_s']:.1f} s"
                )
            ops, out["changes"], chosen = plan_changes(cfg["tenant_id"], truth, seed=size)
            rounds, counts_by_round = [], []
            for r in range(args.steady_rounds):  # each round changes other users than the rounds before
                later_ops, later_counts, picked = plan_changes(
                    cfg["tenant_id"], truth, seed=size + 1 + r, exclude=frozenset(chosen)
                )
                chosen |= picked
                rounds.append(later_ops)
                counts_by_round.append(later_counts)
            apply_changes(emulator, ops)
            # the later rounds are applied by the worker between its invocations (outside the timed window)
            then = {"connection_id": run_cfg["connection_id"], "mode": "incremental", "rounds": rounds}
            inc_cfg = {**run_cfg, "mode": "incremental", "then": then}
            inc = out["connector_incremental"] = connector_run(inc_cfg, emulator, counts)
            out["changes_second"] = counts_by_round[inc["second_invocation"]["round"]]
            log(
                f"  connector incremental after {out['changes']['total']} changes: {inc['wall_s']:.2f} s; second "
                f"invocation after {out['changes_second']['total']} more: {inc['second_invocation']['wall_s']:.2f} s"
            )
        if args.profile and size == max(args.sizes):
            with start_azurite(str(log_dir)) as azurite:
                profile_cfg = {
                    **cfg,
                    "storage": azurite.connection_string,
                    "connection_id": f"c{uuid.uuid4().hex[:12]}",
                    "mode": "full",
                    "profile": str(log_dir / f"profile-connector-{size}"),
                }
                out["connector_full_profiled"] = connector_run(profile_cfg, emulator, counts)
                log(f"  profiled connector full: {out['connector_full_profiled']['wall_s']:.1f} s")
        if size in (args.slow_size, args.throttle_size):
            counts, _ = truth_counts(emulator, cfg["tenant_id"])  # the tenant as the incremental runs left it
        if size == args.slow_size:  # issue 21 target 1: the same full sync with every Graph request slowed
            emulator.control("set_fault", kind="latency", rate=1.0, latency_ms=args.slow_ms, path_prefix="/v1.0")
            try:
                with start_azurite(str(log_dir)) as azurite:
                    slow_cfg = {**run_cfg, "storage": azurite.connection_string, "mode": "full"}
                    slow_cfg["connection_id"] = f"c{uuid.uuid4().hex[:12]}"
                    out["connector_full_slow"] = connector_run(slow_cfg, emulator, counts)
            except RuntimeError as exc:  # recorded, and the rest of the benchmark still runs
                out["connector_full_slow_error"] = str(exc)[-2000:]
                log(f"  the slow full sync failed: {str(exc).splitlines()[0]}")
            finally:
                emulator.control("clear_faults")
            if "connector_full_slow" in out:
                slow = out["connector_full_slow"]
                log(f"  connector full, {args.slow_ms} ms on every Graph request: {slow['wall_s']:.1f} s")
        if size == args.throttle_size:  # issue 21 target 2: limits lowered, the same result (429s honoured)
            emulator.control("set_throttling", enabled=True, scale=args.throttle_scale)
            try:
                with start_azurite(str(log_dir)) as azurite:
                    thr_cfg = {**run_cfg, "storage": azurite.connection_string, "mode": "full"}
                    thr_cfg["connection_id"] = f"c{uuid.uuid4().hex[:12]}"
                    out["connector_full_throttled"] = connector_run(thr_cfg, emulator, counts)
            except RuntimeError as exc:  # recorded (a run that did not complete under lowered limits), and on
                out["connector_full_throttled_error"] = str(exc)[-2000:]
                log(f"  the throttled full sync failed: {str(exc).splitlines()[0]}")
            finally:
                emulator.control("set_throttling", enabled=True, scale=1.0)
            if "connector_full_throttled" in out:
                thr = out["connector_full_throttled"]
                log(f"  connector full, limits x{args.throttle_scale}: {thr['wall_s']:.1f} s, {thr['graph_429s']} 429s")
        if size == args.latency_size:
            counts, truth = truth_counts(emulator, cfg["tenant_id"])
            emulator.control("set_fault", kind="latency", rate=1.0, latency_ms=args.latency_ms, path_prefix="/v1.0")
            try:
                with start_azurite(str(log_dir)) as azurite:
                    lat_cfg = {
                        **cfg,
                        "storage": azurite.connection_string,
                        "connection_id": f"c{uuid.uuid4().hex[:12]}",
                        "mode": "full",
                    }
                    out["connector_full_latency"] = connector_run(lat_cfg, emulator, counts)
                log(f"  connector full, {args.latency_ms} ms latency: {out['connector_full_latency']['wall_s']:.1f} s")
                with start_azurite(str(log_dir)) as azurite:
                    base_cfg = {**cfg, "storage": azurite.connection_string, "connection_id": "baseline"}
                    out["baseline_full_latency"] = reused(args, size, "baseline_full_latency", counts) or baseline_run(
                        base_cfg, emulator, counts, cap, sorted(truth["users"])
                    )
                log(f"  baseline full, {args.latency_ms} ms latency: {out['baseline_full_latency']['wall_s']:.1f} s")
            finally:
                emulator.control("clear_faults")
    return out


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000", help="users per tenant, comma-separated")
    parser.add_argument("--latency-size", type=int, default=10_000, help="size repeated with injected latency")
    parser.add_argument("--latency-ms", type=int, default=150, help="latency injected per Graph request")
    parser.add_argument(
        "--baseline-cap",
        type=int,
        default=3_000,
        help="the baseline handles at most this many objects per phase and its time is extrapolated per phase (at "
        "~100 objects/s it would take far longer than the time box otherwise); 0: no cap",
    )
    parser.add_argument(
        "--no-extrapolation-check",
        dest="check_extrapolation",
        action="store_false",
        help="skip the capped baseline at the smallest size that checks the extrapolation against a full run",
    )
    parser.add_argument("--ceiling-entities", type=int, default=20_000)
    parser.add_argument(
        "--steady-rounds",
        type=int,
        default=5,
        help="incremental runs (each after its own 1%% of changes) in the running worker; the median is reported",
    )
    parser.add_argument(
        "--baselines-from",
        default=None,
        help="reuse the baseline results of an earlier results.json (same sizes) instead of measuring them again",
    )
    parser.add_argument(
        "--steady-full-max",
        type=int,
        default=1_000_000,
        help="sizes above this skip the second full sync in the same worker (saves a full sync under load)",
    )
    parser.add_argument("--slow-size", type=int, default=50_000, help="size repeated with --slow-ms on every request")
    parser.add_argument("--slow-ms", type=int, default=250)
    parser.add_argument("--throttle-size", type=int, default=10_000, help="size repeated with lowered Graph limits")
    parser.add_argument(
        "--throttle-scale",
        type=float,
        default=0.01,
        help="the emulator's limits multiplied by this (0.03 was never reached: the 10k run asks ~300 units in ~10 s)",
    )
    parser.add_argument("--operator-counts", default="10,200,2000", help="connections stored, comma-separated")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="for development: 1k and 10k users (the slow run at 10k), small ceiling, one steady round, 10 and 200 "
        "connections, baselines from bench/results.json; writes .bench/quick-results.json and .bench/quick.md",
    )
    parser.add_argument("--profile", action="store_true", help="also run the largest size under cProfile")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--doc", default=str(DOC))
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.slow_size, args.ceiling_entities, args.steady_rounds = "1000,10000", 10_000, 5_000, 1
        args.operator_counts, args.check_extrapolation = "10,200", False
        args.baselines_from = args.baselines_from or str(RESULTS)
        if args.results == str(RESULTS):
            args.results, args.doc = str(OUT_DIR / "quick-results.json"), str(OUT_DIR / "quick.md")
    args.operator_counts = [int(n) for n in str(args.operator_counts).split(",") if n]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.baseline_cap = args.baseline_cap or None
    # read once, now: --baselines-from may name the very file this run rewrites after each size
    args.earlier = json.loads(Path(args.baselines_from).read_text()) if args.baselines_from else None
    if args.latency_size not in args.sizes:
        args.latency_size = 0
    OUT_DIR.mkdir(exist_ok=True)
    from emulators.azurite import start_azurite

    began = time.perf_counter()
    settings = {k: v for k, v in vars(args).items() if k != "earlier"}
    results: dict[str, Any] = {"machine": machine_details(), "settings": settings, "load": {"before": _uptime()}}
    results["code_at_start"] = code_fingerprint()
    log("deployment package: requirements.txt into a clean folder, zipped; every app module imported from it")
    from bench.package import measure

    earlier_package = (args.earlier or {}).get("package") if args.quick else None
    results["package"] = earlier_package or measure()  # --quick: the package does not change with the sync
    log(f"  {results['package']['zip_mb']:.1f} MB zipped, {results['package']['files']:,} files")
    log("cold start: import function_app (3 fresh processes)")
    results["coldstart"] = [worker("coldstart", {}) for _ in range(3)]
    log("Azurite batched-write ceiling")
    for attempt in (1, 2):  # a connection Azurite dropped under load fails the bare SDK loop: measured again once
        try:
            with start_azurite(str(OUT_DIR)) as azurite:
                ceiling_cfg = {
                    "storage": azurite.connection_string,
                    "entities": args.ceiling_entities,
                    "concurrency": [1, 2, 4],  # 8 and 16 were never the best (2026-11 and 2026-12 runs)
                }
                results["azurite_ceiling"] = worker("ceiling", ceiling_cfg)
            break
        except RuntimeError as exc:
            if attempt == 2:
                raise
            log(f"  the ceiling run failed ({str(exc).splitlines()[-1][:200]}); measuring again")
            results.setdefault("notes_retried", []).append("azurite_ceiling")
    log(f"  ceiling {results['azurite_ceiling']['ceiling']:.0f} entities/s")
    with entra(1000, "bench-firstpage", OUT_DIR) as emulator:
        cfg = tenant_config(emulator)
        results["first_page"] = {
            client: worker("firstpage", {**cfg, "client": client}) for client in ("connector", "msgraph")
        }
        results["coldjob"] = [worker("coldjob", cfg) for _ in range(3)]
    log(f"  sync job's first invocation, fresh process: {min(r['total_s'] for r in results['coldjob']):.2f} s (best)")
    log(f"operator scale: {args.operator_counts} connections")
    try:
        with start_azurite(str(OUT_DIR)) as azurite:
            op_cfg = {"storage": azurite.connection_string, "counts": args.operator_counts}
            results["operator"] = worker("operator", op_cfg)
    except RuntimeError as exc:
        results["operator"] = {"counts": [], "error": str(exc)[-2000:]}
        log(f"  operator scale failed: {str(exc).splitlines()[0]}")
    for row in results["operator"]["counts"]:
        log(
            f"  {row['connections']:,}: tick {row['tick_s']:.2f} s (all due; fan-out worker"
            f" {row.get('fanout_worker_s', 0):.2f} s), {row['idle_tick_s']:.2f} s (none due)"
        )
    results["sizes"] = []
    for size in args.sizes:
        results["sizes"].append(size_scenarios(size, args, OUT_DIR))
        Path(args.results).write_text(json.dumps(results, indent=2, sort_keys=True))
    results["total_s"] = time.perf_counter() - began
    results["load"]["after"] = _uptime()
    results["code"] = {"at_start": results["code_at_start"], "at_end": code_fingerprint()}
    Path(args.results).write_text(json.dumps(results, indent=2, sort_keys=True))
    markdown = write_markdown(results, Path(args.doc))
    subprocess.run([sys.executable, "-m", "bench.notifications", "--doc", args.doc], cwd=REPO, check=True)
    print(markdown)
    log(f"done in {results['total_s']:.0f} s: {args.results}, {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
