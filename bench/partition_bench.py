"""A host's analysis on the server at fleet scale, in one process (what one worker child does):
the seed fleet's inventory, intent and every host's first snapshot stored (`--hosts`, 20
workloads a segment, 5 peers), then the first analysis of the fleet host by host, then rule
changes: a host's new snapshot and its analysis (`analyse_host`), `--rounds` times, each on
another host. The first change after a start builds the process's caches; the median is taken
over the others. Last, `--batch` hosts' rules change at once and one task's run analyses them
all on one fleet state (`analyse_hosts`, what the worker's task does), then the same hosts
change again and are analysed again (`batch_again`: the hosts' caches warm, as in a worker
that has analysed the fleet before).

`python -m bench.partition_bench [--hosts 1000] [--rounds 5] [--batch 10] [--reuse] [--json]`,
on its own database (BENCH_DATABASE_URL with `_partition<hosts>` appended); `--reuse` measures
the changes again on the rows a previous run stored. Tasks the ingest asks for are purged,
never run."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.database import fresh_database, sibling_url
from bench.seed import SeedScale, seed_fleet

AT = datetime(2026, 12, 1, tzinfo=UTC)


def run(hosts: int, rounds: int, reuse: bool = False, batch: int = 10) -> dict[str, Any]:
    if not fresh_database("partition", sibling_url(f"_partition{hosts}"), reuse=reuse):
        return {}
    from celery import current_app

    from bench.loadcheck import load_fleet
    from bench.loadsim import simulated_hosts
    from webapp.analysis.partitions import analyse_host, due_host_ids
    from webapp.inventory.models import Host
    from webapp.rules.services import ingest_snapshot

    # This process analyses: what ingest asks for waits in the broker (memory:// without
    # REDIS_URL) and is purged, never run.
    current_app.conf.task_always_eager = False

    def purge() -> None:
        current_app.control.purge()

    seed = seed_fleet(SeedScale(hosts=hosts, segments=hosts, members=20, peers=5))
    simulated = {h.name: h for h in simulated_hosts(seed)}
    out: dict[str, Any] = {"hosts": hosts, "workloads": len(seed.workloads)}
    if not reuse:
        started = time.perf_counter()
        load_fleet(seed, AT)
        for name, host in simulated.items():
            ingest_snapshot(Host.objects.get(name=name), AT + timedelta(seconds=1),
                            host.collect().dumps, {})
        purge()
        out["store_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    times = []
    for host_id in due_host_ids():
        begun = time.perf_counter()
        analyse_host(host_id)
        times.append(time.perf_counter() - begun)
    out["first_analysis"] = {
        "hosts": len(times), "seconds": round(time.perf_counter() - started, 1),
        "first_host_s": round(times[0], 2) if times else None,
        "other_hosts_median_s": round(statistics.median(times[1:]), 3) if len(times) > 1
        else None}
    names = sorted(simulated)
    changes = []
    for number in range(rounds + 1):
        name = names[(number * 7) % len(names)]
        host = simulated[name]
        host.change = time.time_ns() % 40_000 + number  # new content on every run
        host.change_rules()
        row = Host.objects.get(name=name)
        ingest_snapshot(row, AT + timedelta(minutes=10 + number), host.collect().dumps, {})
        purge()
        begun = time.perf_counter()
        outcome = analyse_host(row.pk)
        for other in outcome.marked:
            analyse_host(other)
        changes.append({"host": name, "status": outcome.status, "marked": len(outcome.marked),
                        "seconds": round(time.perf_counter() - begun, 3)})
    out["changes"] = changes
    out["change_median_s"] = round(statistics.median(c["seconds"] for c in changes[1:]), 3)
    if batch > 1:
        out["batch"] = _batch(simulated, names, batch, purge, 30)
        # The same hosts change again: what a worker that has analysed them before pays.
        out["batch_again"] = _batch(simulated, names, batch, purge, 30 + batch)
    return out


def _batch(simulated: dict[str, Any], names: list[str], size: int,
           purge: Callable[[], None], minutes: int) -> dict[str, Any]:
    """`size` hosts' rules changed at once, then one analysis task's run: the hosts due by
    then analysed on one fleet state (analyse_hosts, as the worker's task runs it); the
    snapshots are collected `minutes` after the fleet's first."""
    from webapp.analysis.partitions import analyse_hosts
    from webapp.inventory.models import Host
    from webapp.rules.services import ingest_snapshot

    rows = []
    for number in range(size):
        name = names[(number * 13 + 5) % len(names)]
        host = simulated[name]
        host.change = time.time_ns() % 40_000 + 50_000 + minutes * 100 + number
        host.change_rules()
        row = Host.objects.get(name=name)
        ingest_snapshot(row, AT + timedelta(minutes=minutes + number), host.collect().dumps,
                        {})
        rows.append(row)
    purge()
    begun = time.perf_counter()
    outcomes = analyse_hosts(rows[0].pk, others=size - 1)
    seconds = time.perf_counter() - begun
    return {"hosts": len(outcomes), "stored": sum(o.status == "stored" for _, o in outcomes),
            "seconds": round(seconds, 3), "per_host_s": round(seconds / len(outcomes), 3)}


def run_isolated(quick: bool = False) -> dict[str, Any]:
    """`run` in a fresh process (its own Django setup and database), as `python -m bench`
    runs it: 1,000 hosts, or 10 for a smoke run."""
    import subprocess
    from pathlib import Path

    hosts, rounds = (10, 2) if quick else (1000, 5)
    done = subprocess.run([sys.executable, "-m", "bench.partition_bench", "--hosts", str(hosts),
                           "--rounds", str(rounds), "--json"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, check=False)
    sys.stderr.write(done.stderr[-5000:])
    if done.returncode != 0:
        raise RuntimeError(f"partition benchmark failed: {done.stderr[-2000:]}")
    results: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"partition: {json.dumps(results)}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.partition_bench")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="rule changes after the first")
    parser.add_argument("--batch", type=int, default=10,
                        help="then this many hosts' rules changed at once, analysed by one task")
    parser.add_argument("--reuse", action="store_true",
                        help="measure on the rows a previous run of this size stored")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    results = run(args.hosts, args.rounds, args.reuse, args.batch)
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
