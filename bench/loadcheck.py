"""The server side of the load benchmark: the fleet's inventory, intent and agent tokens in the
database, and what the benchmark reads back while it runs: Celery's queue depth, each
snapshot's analysis lag, how far convergence tracking is behind, CPU per process group, and
the rows stored against what the agents sent."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.deployment import CpuMeter, ProcessGroup, pids_named
from bench.seed import SeedFleet

QUEUE = "celery"  # Celery's default queue: the Redis list of waiting task messages
BACKGROUND_QUEUE = "background"  # convergence and the graph page's data


def percentiles(values: Iterable[float]) -> dict[str, Any]:
    """p50, p95, max and count of a sample (None when empty)."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "max": None}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"count": len(ordered), "p50": at(0.5), "p95": at(0.95), "max": round(ordered[-1], 3)}


def load_fleet(fleet: SeedFleet, at: datetime | None = None) -> None:
    """The fleet's hosts, workloads and intent in the database, as an inventory import and an
    intent upload would store them."""
    from collectors.inventory import HostEntry, Inventory, WorkloadEntry
    from webapp.inventory.services import apply_inventory
    from webapp.policy.services import store_intent

    at = at or datetime.now(UTC)
    hosts = tuple(HostEntry(h, (fleet.host_addresses[h],)) for h in fleet.hosts)
    workloads = tuple(WorkloadEntry(w.name, w.host, tuple(w.addresses), "bridged",
                                    w.interface or "", dict(w.labels), started_at=at)
                      for w in fleet.workloads)
    apply_inventory(Inventory("segscope", hosts, workloads, frozenset(fleet.hosts)), now=at)
    store_intent("seed", json.dumps(fleet.intent.to_dict()), published_default=at)


def issue_tokens(hosts: Iterable[str]) -> dict[str, str]:
    """A new agent token for each host (created with the fleet): host -> plaintext."""
    import secrets

    from webapp.inventory.models import AgentToken, Host

    ids = dict(Host.objects.filter(name__in=list(hosts)).values_list("name", "id"))
    tokens = {name: secrets.token_urlsafe(32) for name in ids}
    AgentToken.objects.bulk_create([AgentToken(host_id=ids[n], token_hash=AgentToken.hash_token(t))
                                    for n, t in tokens.items()])
    return tokens


def apply_churn(started: Iterable[tuple[str, str, str, str]],
                stopped: Iterable[tuple[str, str, str, str, float]], now: float) -> None:
    """One inventory import: workloads started now and workloads that stopped now."""
    from collectors.inventory import Inventory, WorkloadEntry
    from webapp.inventory.services import apply_inventory

    moment = datetime.fromtimestamp(now, UTC)
    entries = [WorkloadEntry(name, host, (address,), "bridged", iface,
                             {"segment": name.split("-churn-")[0]}, started_at=moment)
               for name, host, address, iface in started]
    entries += [WorkloadEntry(name, host, (address,), "bridged", iface,
                              {"segment": name.split("-churn-")[0]},
                              started_at=datetime.fromtimestamp(start, UTC), stopped_at=moment)
                for name, host, address, iface, start in stopped]
    if entries:
        apply_inventory(Inventory("segscope", (), tuple(entries), frozenset()), now=moment)


@dataclass
class AnalysisWatch:
    """Each stored snapshot until the host's stored analysis reads it (or a newer one): its
    lag is the analysis's computed_at minus the snapshot's received_at. The analysis of a host
    stamps its graph edges with the snapshot hash of every host it read."""

    last_snapshot: int = 0
    pending: dict[int, list[tuple[str, float]]] = field(default_factory=dict)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (received, lag)
    names: dict[int, str] = field(default_factory=dict)

    def poll(self) -> None:
        from django.db import connection

        from webapp.analysis.models import GraphEdge
        from webapp.inventory.models import Host
        from webapp.rules.models import Snapshot

        if not self.names:
            self.names = dict(Host.objects.values_list("id", "name"))
        for sid, host_id, digest, received in Snapshot.objects.filter(
                pk__gt=self.last_snapshot).order_by("pk").values_list(
                "pk", "host_id", "content_hash", "received_at"):
            self.pending.setdefault(host_id, []).append((digest, received.timestamp()))
            self.last_snapshot = sid
        waiting = [h for h, items in self.pending.items() if items]
        if not waiting:
            return
        table = GraphEdge._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT h, e.computed_at, e.snapshots FROM unnest(%s::bigint[]) AS h "
                f"CROSS JOIN LATERAL (SELECT computed_at, snapshots FROM {table} "
                f"WHERE host_id = h LIMIT 1) e", [waiting])
            rows = cursor.fetchall()
        for host_id, computed_at, snapshots in rows:
            if isinstance(snapshots, str):
                snapshots = json.loads(snapshots)
            digest = (snapshots or {}).get(self.names.get(host_id, ""))
            items = self.pending[host_id]
            hashes = [d for d, _ in items]
            if digest in hashes:
                upto = hashes.index(digest) + 1
                for _, received in items[:upto]:
                    self.lags.append((received, max(0.0, computed_at.timestamp() - received)))
                del items[:upto]

    def by_window(self, windows: Mapping[str, tuple[float, float]],
                  now: float) -> dict[str, dict[str, Any]]:
        """Lags of the snapshots received in each (start, end) window; snapshots never
        analysed count with the time they have waited so far (then the figures are lower
        bounds)."""
        out = {}
        for name, (start, end) in windows.items():
            lags = [lag for received, lag in self.lags if start <= received < end]
            waiting = [now - received for items in self.pending.values()
                       for _, received in items if start <= received < end]
            figures = percentiles(lags + waiting)
            figures.update(not_analysed=len(waiting), lower_bound=bool(waiting))
            out[name] = figures
        return out

    def waiting(self) -> int:
        return sum(len(items) for items in self.pending.values())

    def oldest_waiting(self, now: float) -> float:
        oldest = [items[0][1] for items in self.pending.values() if items]
        return round(now - min(oldest), 1) if oldest else 0.0


def queue_depth(queue: str = QUEUE) -> int:
    """Task messages waiting in Redis for a worker."""
    import redis

    return int(redis.Redis.from_url(os.environ["REDIS_URL"]).llen(queue))


def due_hosts() -> int:
    from webapp.inventory.models import Host

    return Host.objects.filter(analysis_due_at__isnull=False).count()


def convergence_covers() -> float | None:
    """When the newest generation the stored convergence results know of opened."""
    from django.db.models import Max

    from webapp.analysis.models import GenerationResult

    newest = GenerationResult.objects.aggregate(Max("opened_at"))["opened_at__max"]
    return newest.timestamp() if newest is not None else None


@dataclass
class Sampler:
    """Samples every `every` seconds during a phase: queue depth, due hosts, snapshots waiting
    for their analysis, convergence behind; CPU per process group over the phase."""

    groups: Mapping[str, ProcessGroup]
    watch: AnalysisWatch
    changes: list[float]  # times of membership changes (inventory imports)
    every: float = 2.0
    series: list[dict[str, Any]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _phase: str = ""
    _started: float = 0.0
    _lags_from: int = 0

    def __post_init__(self) -> None:
        me = os.getpid()
        groups: dict[str, object] = dict(self.groups)
        groups["load generator (agents)"] = lambda: [me]
        groups["postgresql (whole server, shared)"] = lambda: pids_named("postgres")
        groups["redis (whole server, shared)"] = lambda: pids_named("redis-server")
        self.cpu = CpuMeter(groups)

    def behind(self, now: float) -> float:
        """Seconds the oldest membership change the convergence results miss has waited."""
        covers = convergence_covers()
        missed = [t for t in self.changes if covers is None or t > covers + 1.0]
        return round(now - min(missed), 1) if missed else 0.0

    def sample(self) -> dict[str, Any]:
        self.watch.poll()
        now = time.time()
        point = {"t": round(time.monotonic() - self._started, 1), "queue": queue_depth(),
                 "background_queue": queue_depth(BACKGROUND_QUEUE),
                 "due_hosts": due_hosts(), "snapshots_waiting": self.watch.waiting(),
                 "oldest_waiting_seconds": self.watch.oldest_waiting(now),
                 "convergence_behind_seconds": self.behind(now)}
        self.series.append(point)
        return point

    async def _loop(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.every)  # the sampling period

    def start(self, phase: str) -> None:
        self._phase = phase
        self.series = []
        self._started = time.monotonic()
        self._lags_from = len(self.watch.lags)
        self.cpu.start()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
        cores = self.cpu.stop()
        await asyncio.to_thread(self.sample)
        lags = [lag for _, lag in self.watch.lags[self._lags_from:]]
        series = self.series
        return {
            "cpu_cores": cores,
            "analysis_lag_seconds": percentiles(lags),
            "queue_depth": {"max": max((p["queue"] for p in series), default=0),
                            "end": series[-1]["queue"] if series else 0},
            "background_queue_depth": {
                "max": max((p["background_queue"] for p in series), default=0),
                "end": series[-1]["background_queue"] if series else 0},
            "snapshots_waiting_at_end": series[-1]["snapshots_waiting"] if series else 0,
            "oldest_waiting_seconds_at_end": series[-1]["oldest_waiting_seconds"]
            if series else 0,
            "convergence_behind_seconds": {
                "max": max((p["convergence_behind_seconds"] for p in series), default=0),
                "end": series[-1]["convergence_behind_seconds"] if series else 0},
            "series": _thin(series, 60),
        }

    async def wait_caught_up(self, timeout: float) -> float | None:
        """Seconds until no snapshot waits for its analysis, no host is due and the queue is
        empty (None: not within `timeout`). Polls at the sampling period."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            point = await asyncio.to_thread(self.sample)
            if not (point["queue"] or point["due_hosts"] or point["snapshots_waiting"]):
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(self.every)  # the sampling period
        return None


def _thin(series: list[dict[str, Any]], points: int) -> list[dict[str, Any]]:
    """At most `points` evenly spaced samples, the last included."""
    if len(series) <= points:
        return series
    step = len(series) / points
    return [series[int(i * step)] for i in range(points - 1)] + [series[-1]]


def count_rows(sent: Any, hosts: int) -> dict[str, Any]:
    """Rows the server holds against what the agents sent."""
    from django.db.models import Sum

    from webapp.flows.models import FlowBatch, FlowRecord
    from webapp.rules.models import Snapshot

    records = FlowRecord.objects.aggregate(n=Sum("records"))["n"] or 0
    accepted = FlowBatch.objects.aggregate(n=Sum("accepted"))["n"] or 0
    return {"hosts": hosts, "agent_rounds": sent.rounds, "snapshots": Snapshot.objects.count(),
            "flow_records_sent": sent.flow_lines, "flow_records_accepted": accepted,
            "flow_records_stored": records, "flow_batches": FlowBatch.objects.count(),
            "flow_rows": FlowRecord.objects.count()}
