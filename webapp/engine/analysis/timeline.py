"""A fleet's history from an offline bundle: snapshots, workloads and intent versions over time."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.bundle import Bundle, SnapshotFiles, read_bundle
from webapp.engine.analysis.fleet import Fleet, HostState, Workload, load_host_state


@dataclass(frozen=True, slots=True)
class IntentVersion:
    """An intent version and when it was published."""

    version: str
    published_at: datetime
    intent: Any  # collectors.intent.Intent or a NetworkPolicy intent
    text: str = ""


@dataclass(slots=True)
class Timeline:
    """Everything a bundle says, in time order, with host states loaded on demand."""

    host_entries: Mapping[str, Any]
    snapshots: dict[str, list[SnapshotFiles]]
    workloads: tuple[Workload, ...]
    intents: tuple[IntentVersion, ...]
    earliest: datetime | None
    latest: datetime | None
    bundle: Bundle | None = None
    _states: dict[tuple[str, int], HostState] = field(default_factory=dict)

    def intent_at(self, at: datetime | None) -> IntentVersion | None:
        """The newest intent version published at or before `at` (None: the newest)."""
        chosen = None
        for version in self.intents:
            if at is None or version.published_at <= at:
                chosen = version
        return chosen

    def snapshot_index(self, host: str, at: datetime | None) -> int | None:
        """Position of the host's newest snapshot at or before `at`."""
        series = self.snapshots.get(host, [])
        if not series:
            return None
        if at is None:
            return len(series) - 1
        position = bisect_right([s.collected_at for s in series], at) - 1
        return position if position >= 0 else None

    def host_state(self, host: str, position: int | None) -> HostState:
        entry = self.host_entries.get(host)
        addresses = tuple(entry.addresses) if entry is not None else ()
        labels = dict(entry.labels) if entry is not None else {}
        if position is None:
            return HostState(host, addresses, labels)
        key = (host, position)
        state = self._states.get(key)
        if state is None:
            snapshot = self.snapshots[host][position]
            local = [w for w in self.workloads if w.host == host]
            state = load_host_state(host, snapshot.dumps, snapshot.collected_at, addresses,
                                    local, labels)
            self._states[key] = state
        return state

    def host_names(self) -> list[str]:
        return sorted(set(self.host_entries) | set(self.snapshots)
                      | {w.host for w in self.workloads})

    def fleet_at(self, at: datetime | None = None) -> Fleet:
        """Hosts at their newest snapshot by `at`, and the workloads live then."""
        hosts = {name: self.host_state(name, self.snapshot_index(name, at))
                 for name in self.host_names()}
        live = tuple(w for w in self.workloads if w.live_at(at))
        return Fleet(hosts, live, at)


def load_timeline(root: Path) -> Timeline:
    """Read a bundle; BundleError names what is wrong with it."""
    bundle = read_bundle(root)
    snapshots: dict[str, list[SnapshotFiles]] = {}
    for snapshot in bundle.snapshots:
        snapshots.setdefault(snapshot.host, []).append(snapshot)
    times = [s.collected_at for s in bundle.snapshots]
    earliest = min(times) if times else None
    latest = max(times) if times else None
    host_entries: dict[str, Any] = {}
    workloads: list[Workload] = []
    if bundle.inventory is not None:
        host_entries = {h.name: h for h in bundle.inventory.hosts}
        for entry in bundle.inventory.workloads:
            workload = Workload.from_entry(entry)
            if workload.started_at is None and earliest is not None:
                # Without a start time a bundle's workload has run since its first snapshot.
                workload = _replace_start(workload, earliest)
            workloads.append(workload)
    intents = []
    for item in bundle.intents:
        published = getattr(item.intent, "published_at", None) or earliest
        if published is None:
            published = datetime.min.replace(tzinfo=None)
        intents.append(IntentVersion(item.version, published, item.intent, item.text))
    intents.sort(key=lambda v: (v.published_at, v.version))
    return Timeline(host_entries, snapshots, tuple(workloads), tuple(intents), earliest,
                    latest, bundle)


def _replace_start(workload: Workload, at: datetime) -> Workload:
    from dataclasses import replace

    return replace(workload, started_at=at)


def snapshot_times(timeline: Timeline, host: str) -> list[datetime]:
    return [s.collected_at for s in timeline.snapshots.get(host, [])]


__all__ = ["IntentVersion", "Timeline", "load_timeline", "snapshot_times", "bisect_right"]
