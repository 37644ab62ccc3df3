"""Load: the deployment as docker-compose.yml runs it (bin/web, bin/worker, bin/beat) on
PostgreSQL and Redis, driven by simulated hosts whose real agents post every interval.

`python -m bench.load_bench [--agents 1000] [--minutes 10] [--churn-minutes 2] [--json]`
Phases: warm-up (every agent's first snapshot, then the first analysis of the fleet), steady
(heartbeats, a share of rule changes, flow records), churn (short-lived workloads starting and
stopping: rules and set members change at --churn-rate a second), drain (agents stopped, the
analysis catching up). Uses its own database (LOAD_DATABASE_URL, default segscope_load, dropped
and created every run) and Redis database (LOAD_REDIS_URL, default db 14, flushed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import deployment
from bench.loadcheck import (
    AnalysisWatch,
    Sampler,
    apply_churn,
    count_rows,
    issue_tokens,
    load_fleet,
    percentiles,
)
from bench.loadsim import (
    Churn,
    FlowWriter,
    Latencies,
    Schedule,
    Sent,
    SimulatedAgent,
    drive,
    rule_changes,
    simulated_hosts,
)
from bench.seed import SeedScale, seed_fleet

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/segscope_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def _setup_database(url: str, redis_url: str) -> None:
    import psycopg
    import redis

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(redis_url).flushdb()
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load_bench", description=__doc__)
    parser.add_argument("--agents", type=int, default=1000, help="hosts, one agent each")
    parser.add_argument("--minutes", type=float, default=10.0, help="steady phase")
    parser.add_argument("--churn-minutes", type=float, default=2.0, help="churn phase (0: none)")
    parser.add_argument("--interval", type=float, default=10.0, help="agent round, seconds")
    parser.add_argument("--rule-changes", type=float, default=0.05,
                        help="share of rounds whose rules changed")
    parser.add_argument("--flows", type=int, default=10_000, help="flow records a second, fleet")
    parser.add_argument("--churn-rate", type=int, default=5_000,
                        help="rule and set member changes a second in the churn phase")
    parser.add_argument("--churn-lifetime", type=float, default=10.0,
                        help="seconds a short-lived workload runs")
    parser.add_argument("--web-processes", type=int, default=2, help="WEB_CONCURRENCY")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery children")
    parser.add_argument("--worker-priority", choices=("normal", "high"), default="high",
                        help="the analysis worker's WORKER_PRIORITY (docker-compose.yml: high)")
    parser.add_argument("--no-background-worker", dest="background_worker",
                        action="store_false",
                        help="one worker takes both queues (no idle-priority background worker)")
    parser.add_argument("--threads", type=int, default=24,
                        help="agent rounds in flight (each request in flight holds a "
                        "PostgreSQL connection in a web process)")
    parser.add_argument("--warmup-timeout", type=float, default=900.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    return parser.parse_args(argv)


class Run:
    """One benchmark run: the fleet, the processes, the agents and what they measured."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="segscope-load-",
                                          dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        scale = SeedScale(hosts=args.agents, segments=args.agents, members=20, peers=5)
        self.fleet = seed_fleet(scale)
        self.hosts = simulated_hosts(self.fleet)
        self.latencies = Latencies()
        self.sent = Sent()
        self.groups: dict[str, deployment.ProcessGroup] = {}
        self.watch = AnalysisWatch()
        self.churn_times: list[float] = []
        self.churn_starts = 0
        self.windows: dict[str, tuple[float, float]] = {}
        self.results: dict[str, Any] = {"command": " ".join(["python -m bench.load_bench",
                                                             *sys.argv[1:]]),
                                        "started": datetime.now(UTC).isoformat(),
                                        "phases": {}}

    def log(self, text: str) -> None:
        if not self.args.json:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def start_processes(self) -> None:
        env = deployment.environment(DEBUG="false", SECRET_KEY="load-bench-only",
                                     WEB_CONCURRENCY=str(self.args.web_processes),
                                     LOG_LEVEL="WARNING", ALLOWED_HOSTS="127.0.0.1,localhost",
                                     SECURE_COOKIES="false",
                                     # Agents talk to the web processes on loopback, not
                                     # through the TLS proxy that would end HTTPS.
                                     SECURE_SSL_REDIRECT="false",
                                     CELERY_BEAT_SCHEDULE=str(self.work / "beat-schedule"))
        self.groups["web"] = deployment.start("web", env, log=self.work / "web.log")
        # As docker-compose.yml runs them: the analysis worker takes the `celery` queue (at
        # nice -10 unless --worker-priority normal), a background worker on idle CPU time
        # convergence and the graph page's data.
        background = self.args.background_worker
        self.groups["worker"] = deployment.start(
            "worker", {**env, "WORKER_PRIORITY": self.args.worker_priority},
            *(("-Q", "celery") if background else ()),
            f"--concurrency={self.args.worker_concurrency}",
            "--without-gossip", "--without-mingle", log=self.work / "worker.log")
        if background:
            self.groups["background"] = deployment.start(
                "worker", {**env, "WORKER_PRIORITY": "idle"}, "-Q", "background",
                "--concurrency=1", "--without-gossip", "--without-mingle",
                log=self.work / "background.log")
        self.groups["beat"] = deployment.start("beat", env, log=self.work / "beat.log")

    def process_counts(self) -> dict[str, int]:
        return {role: len(group.pids()) for role, group in self.groups.items()}

    def stop_processes(self) -> None:
        for group in self.groups.values():
            group.stop()

    async def phase(self, name: str, agents: list[SimulatedAgent], seconds: float | None,
                    rounds: int | None, churn: Churn | None = None) -> dict[str, Any]:
        """Drive the agents for `seconds` (or `rounds`), sampling; the phase's figures."""
        args = self.args
        per_round = round(args.flows * args.interval / max(1, len(agents)))
        hook, changed = rule_changes(self.hosts, args.rule_changes if name != "warm-up" else 0,
                                     seed=len(self.results["phases"]))
        schedule = Schedule(args.interval)
        self.latencies.take()
        self.sampler.start(name)
        loop = asyncio.get_running_loop()
        until = None if seconds is None else loop.time() + seconds
        tasks = [drive(agents, self.pool, schedule, rounds, until,
                       (lambda: per_round) if name != "warm-up" else (lambda: 0), hook,
                       self.sent)]
        if churn is not None and seconds is not None:
            tasks.append(self.churn_loop(churn, until or 0.0))
        started = time.monotonic()
        self.windows[name] = (time.time(), 0.0)
        flows_before, rounds_before = self.sent.flow_lines, self.sent.rounds
        await asyncio.gather(*tasks)
        wall = time.monotonic() - started
        self.windows[name] = (self.windows[name][0], time.time())
        figures = await self.sampler.stop()
        seconds_by_kind, failures = self.latencies.take()
        figures.update({
            "seconds": round(wall, 1),
            "agents": len(agents),
            "rounds": self.sent.rounds - rounds_before,
            "rounds_scheduled": len(agents) * (rounds or round(wall / args.interval)),
            "rule_changes": changed[0],
            "flow_records_sent": self.sent.flow_lines - flows_before,
            "flow_records_per_second": round((self.sent.flow_lines - flows_before) / wall),
            "latency_seconds": {kind: percentiles(values)
                                for kind, values in sorted(seconds_by_kind.items())},
            "requests_per_second": round(sum(map(len, seconds_by_kind.values())) / wall, 1),
            "not_delivered_first_time": failures,
            "round_start_lateness_seconds": percentiles(schedule.lateness),
        })
        if churn is not None:
            figures["churn_changes"] = churn.changes
            figures["churn_changes_per_second"] = round(churn.changes / wall)
            figures["churn_starts"] = self.churn_starts
        self.results["phases"][name] = figures
        return figures

    async def churn_loop(self, churn: Churn, until: float) -> None:
        """Every second: start and stop short-lived workloads for --churn-rate rule and set
        member changes a second, and tell the inventory in one import (as a control plane's
        sync would). The agents' next rounds collect the changed tables."""
        loop = asyncio.get_running_loop()
        events = max(1, round(self.args.churn_rate / churn.changes_per_event))
        tick = loop.time()
        while loop.time() < until:
            now = time.time()
            started, stopped = [], []
            for _ in range(events // 2 or 1):
                started.append(churn.start_one(now))
            while churn.running and now - churn.running[0][4] >= self.args.churn_lifetime:
                gone = churn.stop_oldest(now)
                if gone is not None:
                    stopped.append(gone)
            self.churn_starts += len(started)
            await asyncio.to_thread(apply_churn, started, stopped, now)
            self.churn_times.append(now)
            tick += 1.0
            delay = tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the churn's own pace, one import a second

    async def main(self) -> dict[str, Any]:
        args = self.args
        self.pool = ThreadPoolExecutor(max_workers=args.threads)
        tokens = self.tokens
        self.sampler = Sampler(self.groups, self.watch, self.churn_times)
        server = self.groups["web"].url
        agents = []
        for i, host in enumerate(self.hosts):
            flows = FlowWriter(self.work / "flows" / f"{host.name}.log", host, args.agents, i)
            agents.append(SimulatedAgent(host, server, tokens[host.name], self.work / "agents",
                                         self.latencies, flows))
        self.results["worker_priority"] = args.worker_priority
        self.log(f"{len(agents)} agents against {server}; processes {self.process_counts()}, "
                 f"analysis worker priority {args.worker_priority}")
        warm = await self.phase("warm-up", agents, None, 1)
        if warm["not_delivered_first_time"]:
            raise RuntimeError(f"the server refused first snapshots: "
                               f"{warm['not_delivered_first_time']} (see the agents' log)")
        self.log(f"warm-up: {warm['rounds']} first snapshots in {warm['seconds']}s; "
                 "waiting for the first analysis of the fleet")
        caught = await self.sampler.wait_caught_up(args.warmup_timeout)
        self.results["first_analysis_seconds"] = caught
        self.log(f"first analysis of the fleet: {caught}s")
        steady = await self.phase("steady", agents, args.minutes * 60, None)
        self.log(summary_line("steady", steady))
        if args.churn_minutes > 0:
            churn = Churn.of(self.fleet, self.hosts, seed=7)
            figures = await self.phase("churn", agents, args.churn_minutes * 60, None, churn)
            self.log(summary_line("churn", figures))
        self.sampler.start("drain")
        drained = await self.sampler.wait_caught_up(args.drain_timeout)
        drain = await self.sampler.stop()
        drain["caught_up_after_seconds"] = drained
        self.results["phases"]["drain"] = drain
        self.results["analysis_lag_by_snapshot_phase"] = self.watch.by_window(
            self.windows, time.time())
        self.results["rows"] = await asyncio.to_thread(count_rows, self.sent, len(agents))
        self.results["processes_at_end"] = self.process_counts()
        return self.results


def summary_line(name: str, figures: dict[str, Any]) -> str:
    lat = figures["latency_seconds"]
    parts = [f"{name}: {figures['requests_per_second']} requests/s"]
    for kind in ("heartbeat", "snapshot", "flows"):
        if kind in lat:
            parts.append(f"{kind} p50 {lat[kind]['p50']}s p95 {lat[kind]['p95']}s")
    lag = figures.get("analysis_lag_seconds") or {}
    parts.append(f"analysis lag p50 {lag.get('p50')}s p95 {lag.get('p95')}s")
    return "; ".join(parts)


def summary(results: dict[str, Any]) -> list[str]:
    """The figures a person reads first, with the targets of the issue."""
    lines = [f"processes: {results['processes_at_end']} (web = uvicorn supervisor + "
             "processes, worker and background = Celery main + children)"]
    lines.append(f"first analysis of the fleet: {results['first_analysis_seconds']} s "
                 "(None: not within --warmup-timeout)")
    for name, figures in results["phases"].items():
        if "latency_seconds" in figures:
            lines.append(summary_line(name, figures))
            lines.append(f"  {name}: {figures['rounds']} of {figures['rounds_scheduled']} "
                         f"scheduled agent rounds done")
            lines.append(f"  {name}: CPU cores {figures['cpu_cores']}; queue depth max "
                         f"{figures['queue_depth']['max']}, background queue max "
                         f"{figures['background_queue_depth']['max']}; flow records/s "
                         f"{figures['flow_records_per_second']}; round start lateness p95 "
                         f"{figures['round_start_lateness_seconds']['p95']} s")
    for name, lag in results["analysis_lag_by_snapshot_phase"].items():
        lines.append(f"analysis lag of snapshots stored in {name}: p50 {lag['p50']} s, p95 "
                     f"{lag['p95']} s{' (lower bound)' if lag['lower_bound'] else ''}; "
                     f"{lag['not_analysed']} of {lag['count']} not analysed by the end")
    steady = results["phases"].get("steady", {})
    p95 = max((v["p95"] or 0 for v in steady.get("latency_seconds", {}).values()), default=0)
    lag = results["analysis_lag_by_snapshot_phase"].get("steady", {}).get("p95")
    lines.append(f"targets with {steady.get('agents')} agents: ingest p95 {p95} s "
                 f"(target <= 1 s: {p95 / 1.0:.2f}x of it); analysis lag p95 {lag} s (target "
                 f"<= 10 s{f': {lag / 10.0:.1f}x of it' if lag is not None else ''})")
    drain = results["phases"].get("drain", {})
    lines.append(f"after the agents stopped, the analysis caught up in "
                 f"{drain.get('caught_up_after_seconds')} s (None: not within --drain-timeout)")
    rows = results["rows"]
    lines.append(f"rows: {rows['snapshots']} snapshots, {rows['flow_records_stored']} of "
                 f"{rows['flow_records_sent']} flow records stored")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    url = os.environ.get("LOAD_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("LOAD_REDIS_URL", DEFAULT_REDIS_URL)
    _setup_database(url, redis_url)
    # A TERM stops the run like Ctrl-C: the started processes are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run = Run(args)
    load_fleet(run.fleet)
    run.tokens = issue_tokens([h.name for h in run.hosts])
    run.start_processes()
    run.results["processes"] = run.process_counts()
    try:
        results = asyncio.run(run.main())
    finally:
        run.stop_processes()
    print(json.dumps(results, indent=2))
    if not args.json:
        print("\n".join(summary(results)))
    shutil.rmtree(run.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
