"""A host's partition of the analysis: the edges toward its workloads and the drift findings
naming it, computed by the engine the offline CLI runs, stored atomically and only when what
it was computed from changed. Dirty flags (Host.analysis_due_at) say which hosts are due."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from webapp.analysis.heap import HEAP
from webapp.analysis.models import AnalysisState, DriftFinding, GraphEdge
from webapp.analysis.timeline import (
    DatabaseAnalysis,
    FleetInputs,
    fleet_inputs,
    load_database_timeline,
)
from webapp.bulk import JsonText, insert_rows
from webapp.engine.analysis.edges import evidence_order, merged_evidence, workload_edge
from webapp.engine.analysis.graph import EffectiveGraph, PairVerdict
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.verdicts import Evidence, PathVerdicts
from webapp.inventory.models import Host
from webapp.live import broadcast

logger = logging.getLogger(__name__)

# The newest fleet analysis by inputs hash: when the whole fleet is due, each host's task
# reads its partition from one analysis instead of setting up the fleet again.
_RESULTS: dict[str, FleetResult] = {}
_LOCK = Lock()
# Evidence entries a result takes over from the one before (see FleetResult): past this many,
# a result starts afresh, which frees the entries of verdicts replaced since.
EVIDENCE_CACHE_LIMIT = 400_000
STEPS = 4  # claimed, fleet computed, partition taken, stored

# Sent by the analysis task with `host_id` once a host's new partition is committed.
partition_stored = Signal()


class FleetResult:
    """The analysis of the newest state, read host by host: the workload edges toward a
    host's workloads and the drift findings naming it, as the CLI's JSON, with where each
    workload lives. It reads the process's graph, which the next `fleet_result` for other
    inputs updates in place: read it before asking for another."""

    def __init__(self, inputs: FleetInputs, analysis: DatabaseAnalysis,
                 earlier: FleetResult | None = None) -> None:
        self.inputs = inputs
        self.analysis = analysis
        self.hosts_of = {w.name: w.host for w in analysis.fleet.workloads}
        # Pairs share their verdicts and port sets (the graph interns them): a pair's allowed
        # texts and evidence are worked out once per (egress, ingress, allowed), and the
        # edges sharing them share the values (read only); each side's evidence entries are
        # written out once per (verdicts, allowed).
        self._parts: dict[tuple[int, int, int], tuple[Any, ...]] = {}
        self._sides: dict[tuple[int, int], tuple[PathVerdicts, PortSet, list[_Entry]]] = {}
        if (earlier is not None and earlier.analysis.graph is analysis.graph
                and len(earlier._parts) + len(earlier._sides) < EVIDENCE_CACHE_LIMIT):
            # The graph was updated in place: the verdicts of hosts that did not change are
            # the same objects, so their evidence is still right. Each entry keeps its key's
            # objects, so an id is never another object's; the entries of replaced verdicts
            # are dropped only with the whole cache, at the limit.
            self._parts = earlier._parts
            self._sides = earlier._sides

    def _local(self, host: str) -> list[str]:
        return [w.name for w in self.analysis.graph.workloads_on(host)]

    def edges_into(self, host: str) -> list[dict[str, Any]]:
        """The host's workload edges as `segscope graph --json` has them, but with evidence
        as JSON text, and `hosts`: the hosts the evidence names."""
        parts = self._parts
        edges = []
        for pair in self.analysis.graph.edges_toward(self._local(host)):
            key = (id(pair.egress), id(pair.ingress), id(pair.allowed))
            found = parts.get(key)
            if found is None:
                evidence, hosts = self._evidence(pair)
                # The key's objects are kept with the entry, so that their ids stay theirs.
                found = parts[key] = (pair.allowed.texts(), evidence, hosts, pair.egress,
                                      pair.ingress, pair.allowed)
            edges.append({"src": pair.src, "dst": pair.dst, "allowed": found[0],
                          "evidence": found[1], "hosts": found[2]})
        return edges

    def _evidence(self, pair: PairVerdict) -> tuple[JsonText, frozenset[str]]:
        """workload_edge's evidence as JSON text, put together from each side's entries."""
        entries = self._side(pair.ingress, pair.allowed)
        if pair.egress is not None:
            out = self._side(pair.egress, pair.allowed)
            if {e.evidence.host for e in out} & {e.evidence.host for e in entries}:
                # One host on both sides (a rare path): workload_edge merges the ports of a
                # rule that decided on both.
                listed = workload_edge(pair)["evidence"]
                return JsonText(json.dumps(listed)), frozenset(e["host"] for e in listed)
            entries = sorted(out + entries, key=lambda entry: entry.order)
        return (JsonText("[" + ", ".join(e.text for e in entries) + "]"),
                frozenset(e.evidence.host for e in entries))

    def _side(self, verdicts: PathVerdicts, allowed: PortSet) -> list[_Entry]:
        """One side's evidence entries of a pair, sorted as an edge lists them."""
        key = (id(verdicts), id(allowed))
        found = self._sides.get(key)
        if found is None:
            entries = [_Entry(evidence_order(e), e, json.dumps(e.to_dict(p)))
                       for e, p in merged_evidence(verdicts.deciding(allowed, True))]
            found = self._sides[key] = (verdicts, allowed, entries)
        return found[2]

    def findings_of(self, host: str) -> list[dict[str, Any]]:
        return list(self.analysis.drift_json(hosts=[host])["findings"])

    def exchange(self, host: str) -> tuple[str, set[str]]:
        """What the host's workloads exchange with other hosts' workloads, as a hash, and the
        hosts at the other end. The hash is of the crossing pairs' JSON, sorted by source and
        destination: `[[src, dst, allowed texts], ...]`, as stored since the first release."""
        where = self.hosts_of
        graph = self.analysis.graph
        local = self._local(host)
        crossing: list[tuple[str, str, PortSet]] = []
        peers: set[str] = set()
        # Toward the host the source is at the other end; from it, the destination.
        for pairs, toward in ((graph.edges_toward(local), True), (graph.edges_from(local), False)):
            for pair in pairs:
                other = where.get(pair.src if toward else pair.dst)
                if other != host:
                    crossing.append((pair.src, pair.dst, pair.allowed))
                    if other is not None:
                        peers.add(other)
        crossing.sort(key=lambda item: (item[0], item[1]))
        # The JSON written out by hand: each port set's text once, not once a pair.
        texts: dict[int, tuple[PortSet, str]] = {}
        parts = []
        for src, dst, allowed in crossing:
            found = texts.get(id(allowed))
            if found is None:
                found = texts[id(allowed)] = (allowed, json.dumps(allowed.texts()))
            parts.append(f"[{json.dumps(src)}, {json.dumps(dst)}, {found[1]}]")
        text = "[" + ", ".join(parts) + "]"
        return hashlib.sha256(text.encode()).hexdigest(), peers

    @property
    def edges(self) -> list[dict[str, Any]]:
        """Every workload edge of the fleet (what `segscope graph --json` prints)."""
        return list(self.analysis.graph_json("workload")["edges"])

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Every drift finding of the fleet (what `segscope drift --json` prints)."""
        return list(self.analysis.drift_json()["findings"])


@dataclass(frozen=True, slots=True)
class _Entry:
    """One evidence entry of an edge: where it sorts, and its JSON text."""

    order: tuple[Any, ...]
    evidence: Evidence
    text: str


@dataclass(frozen=True, slots=True)
class AnalysisOutcome:
    """What one analysis run did: `stored`, `unchanged` (same inputs), `not-due` (nothing to
    claim), `superseded` (a newer run of the host stores instead) or `failed` (a host analysed
    beside another, flagged again)."""

    status: str
    edges: int = 0
    findings: int = 0
    marked: tuple[int, ...] = ()  # other hosts this run flagged: their partitions became due


def mark_host_due(host_id: int) -> bool:
    """Set a host's dirty flag unless it is set; True when this call set it."""
    return Host.objects.filter(pk=host_id, analysis_due_at__isnull=True).update(
        analysis_due_at=timezone.now()) == 1


def mark_hosts_due(host_ids: Iterable[int] | None = None) -> int:
    """Set the dirty flag of these hosts (None: every host) where it is not set yet."""
    hosts = Host.objects.filter(analysis_due_at__isnull=True)
    if host_ids is not None:
        hosts = hosts.filter(pk__in=list(host_ids))
    return hosts.update(analysis_due_at=timezone.now())


def flag_hosts_due(host_ids: Iterable[int]) -> list[int]:
    """Set the dirty flag of these hosts where it is not set; the hosts this call flagged
    (the others have an analysis asked for already: each flag is set with its request)."""
    ids = sorted(set(host_ids))
    if not ids:
        return []
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Host._meta.db_table} SET analysis_due_at = %s "
                "WHERE id = ANY(%s) AND analysis_due_at IS NULL RETURNING id", [now, ids])
            return sorted(row[0] for row in cursor.fetchall())
    # SQLite takes one writer at a time: nothing sets a flag between these two statements.
    fresh = list(Host.objects.filter(pk__in=ids, analysis_due_at__isnull=True)
                 .order_by("id").values_list("id", flat=True))
    Host.objects.filter(pk__in=fresh).update(analysis_due_at=now)
    return fresh


def release_stale_claims() -> int:
    """Set the flag again of hosts whose analysis has been running without progress for
    longer than SEGSCOPE_ANALYSIS_LEASE_SECONDS: the worker that claimed it died with it (its
    machine lost, or no parent process left to hand the task back). Returns how many."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.SEGSCOPE_ANALYSIS_LEASE_SECONDS)
    return Host.objects.filter(
        analysis_due_at__isnull=True, analysis_state__status=AnalysisState.Status.RUNNING,
        analysis_state__updated_at__lt=stale).update(analysis_due_at=now)


def due_host_ids() -> list[int]:
    """The hosts whose flag is set, longest waiting first."""
    return list(Host.objects.filter(analysis_due_at__isnull=False).order_by(
        "analysis_due_at", "id").values_list("id", flat=True))


def claim_host(host_id: int) -> int | None:
    """Clear a host's dirty flag if it is set and number the run; None when another run
    claimed it first (or it was not due)."""
    with transaction.atomic():
        if Host.objects.filter(pk=host_id, analysis_due_at__isnull=False).update(
                analysis_due_at=None) != 1:
            return None
        return _start_run(host_id)


def _start_run(host_id: int) -> int:
    now = timezone.now()
    state, _ = AnalysisState.objects.get_or_create(host_id=host_id,
                                                   defaults={"updated_at": now})
    AnalysisState.objects.filter(pk=state.pk).update(
        run=F("run") + 1, status=AnalysisState.Status.RUNNING, done=1, total=STEPS, error="",
        updated_at=now)
    return AnalysisState.objects.values_list("run", flat=True).get(pk=state.pk)


def claim_due_hosts(limit: int, exclude: int) -> list[tuple[int, int]]:
    """Claim up to `limit` due hosts but `exclude`, longest waiting first: (host, run) of
    each claim won."""
    waiting = Host.objects.filter(analysis_due_at__isnull=False).exclude(pk=exclude)
    claims = []
    for host_id in waiting.order_by("analysis_due_at", "id").values_list("id", flat=True)[
            :limit]:
        run = claim_host(host_id)  # None: another run claimed it since the read
        if run is not None:
            claims.append((host_id, run))
    return claims


def analyse_host(host_id: int, *, claimed: bool = False) -> AnalysisOutcome:
    """Claim a due host and store its partition; `claimed` when this run owns the claim
    already (a retry). Raises what the database or the engine raised, the flag set again."""
    return analyse_hosts(host_id, claimed=claimed)[0][1]


def analyse_hosts(host_id: int, *, claimed: bool = False,
                  others: int = 0) -> list[tuple[int, AnalysisOutcome]]:
    """analyse_host, and with it up to `others` more due hosts on the same fleet state (the
    fleet's setup is most of a host's analysis): each host's outcome, this host's first.
    Raises what this host's analysis raised; another host that fails is flagged again."""
    run = claim_host(host_id)
    if run is None and claimed:
        run = _start_run(host_id)
    claims = [(host_id, run)] if run is not None else []
    if others > 0:
        # A run that finds its host claimed takes one more: each task asked for takes as many
        # hosts (tasks are asked for one a batch of flagged hosts).
        claims += claim_due_hosts(others + (run is None), exclude=host_id)
    outcomes = [] if run is not None else [(host_id, AnalysisOutcome("not-due"))]
    inputs = None
    for position, (claim_id, claim_run) in enumerate(claims):
        try:
            inputs = inputs or fleet_inputs()
            outcomes.append((claim_id, _analyse(claim_id, claim_run, inputs)))
        except Exception as exc:
            _failed(claim_id, claim_run, exc)
            if claim_id == host_id:
                _hand_back(claims[position + 1:])
                raise
            logger.exception("analysis of host %s failed", claim_id)
            outcomes.append((claim_id, AnalysisOutcome("failed")))
    return outcomes


def _hand_back(claims: list[tuple[int, int]]) -> None:
    """Set the flag again of claimed hosts this run will not analyse."""
    try:
        mark_hosts_due(host for host, _ in claims)
    except Exception:  # the database is what failed: the lease hands them back
        logger.exception("could not flag %s claimed hosts again", len(claims))


def _analyse(host_id: int, run: int, inputs: FleetInputs) -> AnalysisOutcome:
    host = Host.objects.only("name").get(pk=host_id)
    stored = AnalysisState.objects.only("inputs_hash").get(host_id=host_id)
    if stored.inputs_hash == inputs.digest:
        _finish(host_id, run)
        return AnalysisOutcome("unchanged")
    result = fleet_result(inputs)
    _progress(host_id, run, 2)
    edges = result.edges_into(host.name)
    findings = result.findings_of(host.name)
    exchange, peers = result.exchange(host.name)
    _progress(host_id, run, 3)
    with transaction.atomic():
        state = AnalysisState.objects.select_for_update().get(host_id=host_id)
        if state.run != run:
            return AnalysisOutcome("superseded")
        _store(host, result, edges, findings)
        marked: tuple[int, ...] = ()
        peers = peers - {host.name}
        if exchange != state.exchange_hash:
            others = set(Host.objects.filter(name__in=peers | set(state.peers or ())
                                             ).values_list("id", flat=True))
            if state.peers is None:  # stored before peers were recorded
                others |= set(GraphEdge.objects.filter(src_host=host.name).values_list(
                    "host_id", flat=True).distinct())
            marked = tuple(flag_hosts_due(others - {host_id}))
        AnalysisState.objects.filter(pk=state.pk).update(
            inputs_hash=inputs.digest, exchange_hash=exchange, peers=sorted(peers),
            status=AnalysisState.Status.DONE, done=STEPS, total=STEPS,
            updated_at=timezone.now())
        broadcast.host_analysed(host_id)
    return AnalysisOutcome("stored", len(edges), len(findings), marked)


def fleet_result(inputs: FleetInputs | None = None) -> FleetResult:
    """The engine's analysis of the newest state, set up once per inputs; each host's part
    is computed when it is read."""
    inputs = inputs or fleet_inputs()
    with _LOCK:
        found = _RESULTS.get(inputs.digest)
    if found is not None:
        return found
    with HEAP.building():
        analysis = DatabaseAnalysis(load_database_timeline(inputs.membership))
        _reuse_graph(analysis, inputs)
    HEAP.settled()
    with _LOCK:
        earlier = next(iter(_RESULTS.values()), None)
    result = FleetResult(inputs, analysis, earlier)
    with _LOCK:
        # The graph is the previous result's, updated: only this result reads it right.
        _RESULTS.clear()
        _RESULTS[inputs.digest] = result
    return result


# The last graph this process computed, with its inputs and analysis: when only some hosts'
# snapshots changed since, the graph is updated for those hosts instead of computed again.
_LAST_GRAPH: list[tuple[FleetInputs, EffectiveGraph, BundleAnalysis]] = []
UPDATE_HOSTS = 8  # hosts changed since the last graph that are updated rather than recomputed
UPDATE_SHARE = 0.5  # and up to this share of the fleet, when that is more


def _reuse_graph(analysis: BundleAnalysis, inputs: FleetInputs) -> None:
    """Give the analysis the previous graph updated for the hosts whose snapshot changed, and
    the previous drift indexes, when the intent and the workloads are the same; remember the
    graph for the next run."""
    with _LOCK:
        last = _LAST_GRAPH.pop() if _LAST_GRAPH else None
    graph = None
    if last is not None:
        before, previous, earlier = last
        same = (before.intent_version, before.intent_sha256, before.membership) == (
            inputs.intent_version, inputs.intent_sha256, inputs.membership)
        # A host's first snapshot is a change like any other: the fleet's first round
        # arrives host by host.
        changed = [h for h, digest in inputs.snapshots.items()
                   if before.snapshots.get(h) != digest]
        # Past half the fleet, computing the graph afresh costs less than updating it host
        # by host: at 1,000 hosts a full computation takes as long as parsing and updating
        # 500 to 650 (bench/graph_bench.py). A lower bar feeds itself under load: a full
        # computation lasts long enough for the next batch to find as many hosts changed.
        if (same and set(before.snapshots) <= set(inputs.snapshots)
                and len(changed) <= max(UPDATE_HOSTS,
                                        int(len(inputs.snapshots) * UPDATE_SHARE))):
            previous.update_hosts(analysis.fleet.hosts[host] for host in changed)
            graph = previous
            analysis.inherit_drift(earlier)
    if graph is None:
        graph = analysis.graph
    else:
        graph.fleet.at = analysis.fleet.at
        analysis.fleet = graph.fleet
        analysis._graph = graph
    with _LOCK:
        _LAST_GRAPH.append((inputs, graph, analysis))


def _store(host: Host, result: FleetResult, edges: list[dict[str, Any]],
           findings: list[dict[str, Any]]) -> None:
    now = timezone.now()
    inputs = result.inputs
    version = inputs.intent_version or ""
    where = result.hosts_of
    GraphEdge.objects.filter(host=host).delete()
    DriftFinding.objects.filter(host=host).delete()
    # COPY: a partition holds thousands of pairs, each with its evidence.
    # Edges from one host with the same evidence read the same snapshots.
    read: dict[tuple[str | None, frozenset[str]], dict[str, str]] = {}

    def snapshots(edge: dict[str, Any]) -> dict[str, str]:
        src_host = where.get(edge["src"])
        key = (src_host, edge["hosts"])
        found = read.get(key)
        if found is None:
            found = read[key] = _snapshots_of(inputs, [host.name, src_host, *edge["hosts"]])
        return found

    insert_rows(GraphEdge, ("host", "src", "dst", "src_host", "allowed", "evidence",
                            "snapshots", "intent_version", "computed_at"), (
        (host.pk, e["src"], e["dst"], where.get(e["src"], ""), e["allowed"], e["evidence"],
         snapshots(e), version, now) for e in edges))
    positions: dict[str, int] = {}
    rows = []
    for finding in findings:
        kind = finding["kind"]
        positions[kind] = positions.get(kind, 0) + 1
        rows.append(DriftFinding(
            kind=kind, kind_rank=DriftFinding.rank(kind), host=host, host_name=host.name,
            position=positions[kind], rule=finding["rule"], set_name=finding["set"],
            address=finding["address"], src_segment=finding["src_segment"],
            dst_segment=finding["dst_segment"], workloads=finding["workloads"],
            ports=finding["ports"], since=_moment(finding["since"]),
            note=finding.get("note") or "", snapshot_hash=inputs.snapshots.get(host.name, ""),
            intent_version=version, computed_at=now))
    DriftFinding.objects.bulk_create(rows, batch_size=1000)


def _snapshots_of(inputs: FleetInputs, hosts: Iterable[str | None]) -> dict[str, str]:
    """The snapshot each host that decided an edge was read from."""
    names = {h for h in hosts if h}
    return {name: inputs.snapshots[name] for name in sorted(names) if name in inputs.snapshots}


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _progress(host_id: int, run: int, done: int) -> None:
    AnalysisState.objects.filter(host_id=host_id, run=run).update(
        done=done, updated_at=timezone.now())
    broadcast.host_progress(host_id, done, STEPS)


def _finish(host_id: int, run: int) -> None:
    AnalysisState.objects.filter(host_id=host_id, run=run).update(
        status=AnalysisState.Status.DONE, done=STEPS, total=STEPS, updated_at=timezone.now())


def _failed(host_id: int, run: int, exc: Exception) -> None:
    """Record the failure and set the flag again, so that a retry or the sweep catches up."""
    try:
        AnalysisState.objects.filter(host_id=host_id, run=run).update(
            status=AnalysisState.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
            updated_at=timezone.now())
        mark_host_due(host_id)
    except Exception:  # the database itself is what failed; the retry claims without a flag
        logger.exception("could not record the failed analysis of host %s", host_id)

