"""`segscope lab record DIR`: a small fleet, an intent change one host misses, real traffic,
and the hosts' own dumps and drop logs, written as a bundle (the demo in fixtures/demo).

The story: 3 hosts x 4 workloads run intent v1 (payments -> ledger tcp/5432, web -> payments
tcp/8080); traffic; every host is collected as the agent collects it. Then v2 adds web -> cache
tcp/6379 and is rolled out host by host, but node-03 fails to apply it and keeps v1: traffic
again, so that web's connection to node-03's cache is dropped by a straggler; every host is
collected again. The bundle holds both intents, each with the `published_at` its roll-out began
at (v1: when the workloads started), two snapshots per host and each host's NFLOG drops as
ulogd2 JSON.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from collectors.agent.protocol import iso_time
from collectors.bundle import FlowFile, SnapshotFiles, inventory_yaml, write_bundle
from collectors.lab import fleet
from collectors.lab.netns import LabError
from collectors.lab.session import FleetLab

HOSTS, WORKLOADS = 3, 4
STRAGGLER = "node-03"
ROLL_OUT_DELAY = 0.5
DEMO_INTENTS = {
    "v1": """\
segments:
  payments: {app: payments}
  ledger: {app: ledger, env: prod}
  web: {app: web}
  cache: {app: cache}
allow:
  - {from: payments, to: ledger, ports: [tcp/5432]}
  - {from: web, to: payments, ports: [tcp/8080]}
default: deny
""",
}
DEMO_INTENTS["v2"] = DEMO_INTENTS["v1"].replace(
    "default: deny", "  - {from: web, to: cache, ports: [tcp/6379]}\ndefault: deny")


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """What a recording holds."""

    directory: Path
    snapshots: int
    connections: int
    blocked: int
    straggler_drops: int
    drop_lines: int
    size: int

    def __str__(self) -> str:
        return (f"recorded {self.directory}: {self.snapshots} snapshots, {self.connections} "
                f"connections ({self.blocked} blocked, {self.straggler_drops} by the straggler "
                f"{STRAGGLER}), {self.drop_lines} logged drops, {self.size // 1024} KiB")


def published(text: str, at: str) -> str:
    """An intent's text with a top-level `published_at` (ISO 8601 UTC, e.g. from iso_time): when
    its roll-out began, so that convergence counts from then and not from the bundle's earliest
    snapshot."""
    return f"published_at: {at}\n{text}"


def _snapshot(lab: FleetLab, host: str) -> SnapshotFiles:
    collection = lab.collect(host)
    at = datetime.fromtimestamp(int(collection.collected_at), UTC)
    return SnapshotFiles(host, at, dict(collection.dumps))


def record(directory: Path, state_dir: Path, *, timeout: float = 0.8, tag: str | None = None,
           report: Callable[[str], None] = lambda _: None) -> RecordSummary:
    """Run the demo story in a lab kept in `state_dir` and write its bundle into `directory`;
    the lab is removed afterwards, whatever happens."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise LabError(f"{directory} exists and is not an empty directory")
    with tempfile.TemporaryDirectory(prefix="segscope-record-") as scratch:
        intents = {}
        for version, text in DEMO_INTENTS.items():
            intents[version] = Path(scratch) / f"{version}.yaml"
            intents[version].write_text(text)
        lab = FleetLab.up(state_dir, hosts=HOSTS, workloads=WORKLOADS,
                          intent_path=intents["v1"], tag=tag, report=report)
        try:
            return _story(lab, directory, intents, timeout, report)
        finally:
            lab.down()
            report(f"lab {lab.plan.tag} removed")


def _story(lab: FleetLab, directory: Path, intents: dict[str, Path], timeout: float,
           report: Callable[[str], None]) -> RecordSummary:
    hosts = [h.name for h in lab.hosts()]
    first = lab.traffic(1, timeout=timeout, report=lambda line: report(f"v1 {line}"))
    snapshots = [_snapshot(lab, host) for host in hosts]
    # Whole seconds, as the snapshot folders are named: a roll-out never seems to begin after a
    # snapshot taken in it.
    published_at = {"v1": lab.plan.workloads[0].started_at, "v2": iso_time(time.time())}
    lab.apply(intents["v2"], delay=ROLL_OUT_DELAY, failing=[STRAGGLER], report=report)
    second = lab.traffic(1, timeout=timeout, report=lambda line: report(f"v2 {line}"))
    later = [_snapshot(lab, host) for host in hosts]
    for before, after in zip(snapshots, later, strict=True):
        if before.collected_at >= after.collected_at:
            raise LabError(f"{after.host}: two snapshots in one second; cannot name both")
    snapshots += later
    connections = first.connections + second.connections
    if first.unlogged or second.unlogged:
        raise LabError(f"{len(first.unlogged) + len(second.unlogged)} blocked connections "
                       "never reached a drop log")
    flows = []
    drop_lines = 0
    for host in hosts:
        text = Path(lab.drop_log(host).json_path).read_text()
        drop_lines += text.count("\n")
        flows.append(FlowFile(host, "ulogd2", text, "json"))
    files = write_bundle(
        directory, inventory_text=inventory_yaml(fleet.inventory_document(lab.plan)),
        intents={v: published(p.read_text(), published_at[v]) for v, p in intents.items()},
        snapshots=snapshots,
        flows=flows)
    size = sum((directory / f).stat().st_size for f in files)
    return RecordSummary(directory, len(snapshots), len(connections),
                         sum(c.blocked for c in connections),
                         sum(c.blocked and c.straggler for c in connections), drop_lines, size)
