"""The engine's Timeline read from the database, so that the server runs the engine the offline
CLI runs: hosts, every snapshot in time order, every workload (stopped ones too) and every
intent version, with compiled host states cached by snapshot content in the worker process."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from threading import Lock
from types import MappingProxyType
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Q, Subquery

from collectors.bundle import SnapshotFiles
from collectors.flowlogs import FlowRecord
from collectors.netpol.parse import parse_network_policies
from webapp.engine.analysis.fleet import Fleet, HostState, Workload, load_host_state
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.timeline import IntentVersion, Timeline
from webapp.flows.models import FlowRecord as FlowRow
from webapp.inventory.models import Host
from webapp.inventory.models import Workload as WorkloadRow
from webapp.policy.models import IntentVersion as IntentRow
from webapp.policy.services import intent_of
from webapp.rules.models import Snapshot

# Compiled host states by what they were compiled from: compiling dominates an analysis, and a
# fleet's snapshots repeat their content (counters aside) from one analysis to the next. The
# cache holds at least two states a host: a smaller one would compile the fleet every time.
_STATES: OrderedDict[tuple[Any, ...], HostState] = OrderedDict()
_STATES_SIZE = 256
_states_limit = _STATES_SIZE
_LOCK = Lock()
# Parsed intent versions by row and content: a large intent takes a while to parse.
_INTENTS: OrderedDict[tuple[int, str], Any] = OrderedDict()


class StoredDumps(Mapping[str, str]):
    """A snapshot's dumps, read from the database the first time something looks at them."""

    def __init__(self, snapshot_id: int) -> None:
        self.snapshot_id = snapshot_id
        self._dumps: dict[str, str] | None = None

    def _loaded(self) -> dict[str, str]:
        if self._dumps is None:
            self._dumps = dict(Snapshot.objects.values_list("dumps", flat=True).get(
                pk=self.snapshot_id))
        return self._dumps

    def __getitem__(self, name: str) -> str:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


@dataclass(frozen=True, slots=True)
class StoredSnapshot(SnapshotFiles):
    """A snapshot as the engine reads it, with the content hash ingest gave it."""

    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A host as the timeline names it: addresses and labels."""

    name: str
    addresses: tuple[str, ...]
    labels: Mapping[str, str]


class DatabaseTimeline(Timeline):
    """A Timeline whose host states come from the process-wide cache by content hash, and
    whose hosts let nothing through before their first snapshot."""

    def fleet_at(self, at: datetime | None = None) -> Fleet:
        fleet = super().fleet_at(at)
        fleet.unreported_open = False
        return fleet

    @cached_property
    def _on_host(self) -> dict[str, list[Workload]]:
        out: dict[str, list[Workload]] = {}
        for workload in self.workloads:
            out.setdefault(workload.host, []).append(workload)
        return out

    def host_state(self, host: str, position: int | None) -> HostState:
        if position is None:
            return super().host_state(host, position)
        key = (host, position)
        state = self._states.get(key)
        if state is not None:
            return state
        entry = self.host_entries.get(host)
        addresses = tuple(entry.addresses) if entry is not None else ()
        labels = dict(entry.labels) if entry is not None else {}
        snapshot = self.snapshots[host][position]
        local = self._on_host.get(host, [])
        digest = getattr(snapshot, "content_hash", "")
        # What load_host_state reads besides the dumps: the host's own addresses and those of
        # its host-attached workloads (local delivery), and its labels (the uplink).
        cache_key = (digest, host, addresses, tuple(sorted(labels.items())),
                     tuple(sorted(a for w in local if w.attachment == "host"
                                  for a in w.addresses)))
        with _LOCK:
            cached = _STATES.get(cache_key) if digest else None
            if cached is not None:
                _STATES.move_to_end(cache_key)
        if cached is None:
            cached = load_host_state(host, snapshot.dumps, snapshot.collected_at, addresses,
                                     local, labels, digest or None)
            if digest:
                with _LOCK:
                    _STATES[cache_key] = cached
                    while len(_STATES) > _states_limit:
                        _STATES.popitem(last=False)
        # The same content collected at another time is the same rules, stamped then.
        state = replace(cached, collected_at=snapshot.collected_at)
        self._states[key] = state
        return state


def clear_state_cache() -> None:
    """Forget the compiled host states (tests measure compiling)."""
    with _LOCK:
        _STATES.clear()


def engine_workload(row: WorkloadRow, host_name: str) -> Workload:
    """A stored workload as the engine sees it."""
    return _workload(row.name, host_name, row.addresses, row.attachment, row.interface,
                     row.labels, row.started_at, row.stopped_at)


# A workload's fields as `_workload` takes them after its name and host.
WORKLOAD_FIELDS = ("addresses", "attachment", "interface", "labels", "started_at", "stopped_at")


def _workload(name: str, host: str, addresses: list[str], attachment: str,
              interface: str | None, labels: Mapping[str, str], started_at: datetime | None,
              stopped_at: datetime | None) -> Workload:
    return Workload(name, host, tuple(addresses), attachment, interface or "",
                    MappingProxyType(dict(labels)), started_at, stopped_at)


def parsed_intent(row: IntentRow) -> Any:
    """What a stored intent version says, read as its kind is read; parsed once a version."""
    key = (row.pk, row.sha256)
    with _LOCK:
        found = _INTENTS.get(key)
    if found is None:
        found = _parse(row)
        with _LOCK:
            _INTENTS[key] = found
            while len(_INTENTS) > 16:
                _INTENTS.popitem(last=False)
    return found


def _parse(row: IntentRow) -> Any:
    if row.kind == IntentRow.Kind.NETWORKPOLICY:
        return parse_network_policies(row.text, row.version, row.version)
    return intent_of(row)


def load_database_timeline(membership: str | None = None) -> DatabaseTimeline:
    """Everything stored, in time order; dumps are read only when a state is compiled. With
    `membership` (FleetInputs.membership, read before), hosts and workloads are those of the
    last load with the same membership hash: reading tens of thousands of workloads is most
    of a load, and rule changes leave them as they are."""
    global _states_limit
    with _LOCK:
        members = _MEMBERS.get(membership) if membership else None
    if members is None:
        members = _members()
        if membership:
            with _LOCK:
                _MEMBERS.clear()
                _MEMBERS[membership] = members
    names, entries, workloads = members
    _states_limit = max(_STATES_SIZE, 2 * len(entries))
    snapshots: dict[str, list[SnapshotFiles]] = {}
    rows = Snapshot.objects.order_by("host_id", "collected_at", "id").values_list(
        "id", "host_id", "collected_at", "content_hash")
    times = []
    for snapshot_id, host_id, collected_at, digest in rows:
        name = names[host_id]
        snapshots.setdefault(name, []).append(
            StoredSnapshot(name, collected_at, StoredDumps(snapshot_id), digest))
        times.append(collected_at)
    intents = sorted((IntentVersion(row.version, row.published_at, parsed_intent(row), row.text)
                      for row in IntentRow.objects.all()),
                     key=lambda v: (v.published_at, v.version))
    return DatabaseTimeline(entries, snapshots, workloads, tuple(intents),
                            min(times, default=None), max(times, default=None))


Members = tuple[dict[int, str], dict[str, "HostEntry"], tuple[Workload, ...]]
# The hosts and workloads of the last load, by membership hash.
_MEMBERS: dict[str, Members] = {}


def _members() -> Members:
    """Host names by row, the hosts as the timeline names them, and every workload."""
    hosts = list(Host.objects.only("name", "addresses", "labels"))
    names = {h.pk: h.name for h in hosts}
    entries = {h.name: HostEntry(h.name, tuple(h.addresses), MappingProxyType(dict(h.labels)))
               for h in hosts}
    # Values, not model instances: a fleet has tens of thousands of workloads.
    workloads = tuple(
        _workload(name, names[host_id], *fields)
        for name, host_id, *fields in WorkloadRow.objects.order_by(
            "host_id", "name", "started_at", "id").values_list(
            "name", "host_id", *WORKLOAD_FIELDS).iterator(chunk_size=5000))
    return names, entries, workloads


@dataclass(frozen=True, slots=True)
class FleetInputs:
    """What an analysis of the newest state reads, summed up: each host's newest snapshot,
    the newest intent version and the workloads; equal inputs give equal results."""

    snapshots: Mapping[str, str]  # host -> content hash of its newest snapshot
    intent_version: str | None
    intent_sha256: str | None
    membership: str  # SHA-256 over every workload's identity, place, labels and lifetime

    @property
    def digest(self) -> str:
        return _sha256({"snapshots": dict(sorted(self.snapshots.items())),
                        "intent": [self.intent_version, self.intent_sha256],
                        "membership": self.membership})


def fleet_inputs() -> FleetInputs:
    """The inputs of an analysis of the newest state, read with a few small queries."""
    # One row a host (its newest snapshot, through the host-and-time index), not the history.
    newest = Snapshot.objects.filter(host_id=OuterRef("pk")).order_by(
        "-collected_at", "-id").values("content_hash")[:1]
    latest = {name: digest for name, digest in Host.objects.annotate(
        newest=Subquery(newest)).values_list("name", "newest") if digest is not None}
    intent = IntentRow.objects.order_by("-published_at", "-version").only(
        "version", "sha256").first()
    return FleetInputs(latest, intent.version if intent else None,
                       intent.sha256 if intent else None, _membership())


# Every workload's and host's fields joined in one string and hashed by PostgreSQL: tens of
# thousands of workloads are not read into Python on every analysis.
_MEMBERSHIP_SQL = """
SELECT md5(coalesce((SELECT string_agg(concat_ws(chr(31), id, host_id, name, addresses::text,
          attachment, coalesce(interface, '-'), labels::text, coalesce(started_at::text, '-'),
          coalesce(stopped_at::text, '-')), chr(30) ORDER BY id) FROM {workloads}), ''))
    || md5(coalesce((SELECT string_agg(concat_ws(chr(31), id, name, addresses::text,
          labels::text), chr(30) ORDER BY id) FROM {hosts}), ''))
"""


def _membership() -> str:
    """A hash of every workload's identity, place, labels and lifetime, and every host's."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_MEMBERSHIP_SQL.format(workloads=WorkloadRow._meta.db_table,
                                                  hosts=Host._meta.db_table))
            return str(cursor.fetchone()[0])
    workloads = WorkloadRow.objects.order_by("id").values_list(
        "id", "host_id", "name", "addresses", "attachment", "interface", "labels",
        "started_at", "stopped_at")
    return _sha256([[*row[:7], _moment(row[7]), _moment(row[8])] for row in workloads]
                   + [[h.name, h.addresses, h.labels] for h in Host.objects.order_by("id")])


def _moment(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


class DatabaseAnalysis(BundleAnalysis):
    """BundleAnalysis of the stored fleet: flow records come from the database, where they are
    kept in one-minute buckets (a bucket stands for its records, stamped at its start)."""

    def flow_records(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        # Drops for convergence; the rest for drift's rules whose counters stand still.
        rows = FlowRow.objects.select_related("host").order_by("host_id", "bucket_start", "id")
        for row in rows.iterator(chunk_size=5000):
            out.setdefault(row.host.name, []).append(FlowRecord(
                row.bucket_start, row.bucket_end, row.src, row.dst, row.proto, None, row.dport,
                row.icmp_type, row.icmp_code, row.packets, row.bytes, row.verdict, None,
                row.observer or None, row.rule_ref, row.source_format))
        return out

    def _observed(self) -> Iterable[tuple[str, str, str, int | None]]:
        # Read when a whole-fleet drift iterates it: a host's drift reads its own part only.
        return _Deferred(lambda: self._accepted(None))

    def _observed_touching(self) -> Callable[[frozenset[str]], Iterable[
            tuple[str, str, str, int | None]]]:
        return self._accepted

    def _accepted(self, workloads: frozenset[str] | None
                  ) -> list[tuple[str, str, str, int | None]]:
        """BundleAnalysis._observed in SQL: accepted (or not refused) buckets inside the
        window; with `workloads`, those from or to one of them (through the address
        indexes, not the window's every bucket)."""
        window = self._observed_window()
        if window is None:
            return []
        begin, end = window
        rows = FlowRow.objects.filter(bucket_start__gte=begin, proto__in=list(_PROTOCOLS)
                                      ).exclude(verdict__in=("DROP", "REJECT"))
        if end is not None:
            rows = rows.filter(bucket_start__lte=end)
        owner = self._owners()
        if workloads is not None:
            addresses = sorted(a for a, name in owner.items() if name in workloads)
            if not addresses:
                return []
            rows = rows.filter(Q(src__in=addresses) | Q(dst__in=addresses))
        seen = []
        for src, dst, proto, dport in rows.values_list("src", "dst", "proto", "dport").iterator(
                chunk_size=10_000):
            source, destination = owner.get(src), owner.get(dst)
            name = _PROTOCOLS.get(proto or -1)
            if source and destination and name:
                seen.append((source, destination, name, dport if name != "icmp" else None))
        return seen

    def _owners(self) -> dict[str, str]:
        """Workload names by address (as PostgreSQL writes addresses back)."""
        if self._owner is None:
            self._owner = {str(ipaddress.ip_address(a)): w.name for w in self.fleet.workloads
                           for a in w.addresses}
        return self._owner

    _owner: dict[str, str] | None = None


_PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp"}


class _Deferred(Iterable[tuple[str, str, str, int | None]]):
    """Rows read on first iteration, then kept."""

    def __init__(self, read: Callable[[], list[tuple[str, str, str, int | None]]]) -> None:
        self._read = read
        self._rows: list[tuple[str, str, str, int | None]] | None = None

    def __iter__(self) -> Iterator[tuple[str, str, str, int | None]]:
        if self._rows is None:
            self._rows = self._read()
        return iter(self._rows)
