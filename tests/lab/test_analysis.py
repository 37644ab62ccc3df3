"""The analysis engine against a real fleet: convergence, drift and the effective graph of a
recorded roll-out, checked against what the lab did and what its kernels let through.

3 hosts x 4 workloads come up with intent v1; v2 (web -> cache tcp/6379) is rolled out host by
host, 1 s apart, and node-03 fails to apply it. Every host is collected before the roll-out and
again after each host's turn, and the recording is written as a bundle (intents with their
`published_at`, workloads with their `started_at`), as `segscope lab record` writes one. Then
drift is planted on node-01 by hand and node-01 is collected once more; then a web workload is
marked stopped in the inventory and every host is collected again. Last, every workload pair
and port is tried for real (TCP and UDP) against the graph. No database: the analysis runs
offline, through the real `segscope` command. The last test checks `segscope lab record` itself.
"""

from __future__ import annotations

import json
import math
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.bundle import SnapshotFiles, inventory_yaml, read_bundle, time_folder, write_bundle
from collectors.controlplane import chain_name, set_name
from collectors.lab import fleet
from collectors.lab.netns import run
from collectors.lab.record import STRAGGLER as RECORD_STRAGGLER
from collectors.lab.record import published, record
from collectors.lab.session import FleetLab
from collectors.lab.traffic import UNLISTED_PORT, Attempt, run_round
from tests.lab.conftest import V1, V2, write_intent
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.ports import PortSet

pytestmark = pytest.mark.kernel

SEGSCOPE = Path(sys.executable).with_name("segscope")
STRAGGLER = "node-03"
ROLL_OUT_DELAY = 1.0
PLANTED_HOST = "node-01"
PLANTED_PORT = 7070  # named only by the excess rule planted on node-01
STALE_MEMBER = "10.1.0.200"  # in node-01's workload network, owned by no workload
STALE_SOURCE = "10.1.0.201"
INTENT_PORTS = (5432, 6379, 8080)
PROBED_PORTS = (*INTENT_PORTS, PLANTED_PORT, UNLISTED_PORT)
CONNECT_TIMEOUT = 1.0
UDP_SETTLE = 0.5


@dataclass
class Story:
    """The lab, still up, and what was recorded of it."""

    lab: FleetLab
    recorded: Path  # the roll-out
    planted: Path  # the roll-out, then node-01 with drift planted
    stopped: Path  # as planted, with one web workload stopped in the inventory
    published_at: dict[str, datetime]
    first_v2: dict[str, datetime]  # each host's first snapshot holding v2
    first_v1: dict[str, datetime]  # each host's first snapshot
    excess: tuple[str, str] = ("", "")  # (source, destination) the planted rule lets through
    stopped_workload: str = ""
    stopped_at: datetime | None = None
    planted_chain: str = ""


def snapshot(lab: FleetLab, host: str) -> SnapshotFiles:
    """The host collected as the agent collects it, at its collection time (with fraction)."""
    collection = lab.collect(host)
    return SnapshotFiles(host, datetime.fromtimestamp(collection.collected_at, UTC),
                         dict(collection.dumps))


def iptables(lab: FleetLab, host: str, *args: str) -> None:
    run(["iptables", *args], netns=lab.plan.host(host).netns)


@pytest.fixture(scope="module")
def story(lab_machine: None, lab_tag: Callable[[], str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tag = lab_tag()
    root = tmp_path_factory.mktemp(f"lab-{tag}", numbered=False)
    v1_path, v2_path = write_intent(root, "v1", V1), write_intent(root, "v2", V2)
    lab = FleetLab.up(root / "state", hosts=3, workloads=4, tag=tag, intent_path=v1_path)
    try:
        yield _record(lab, root, v1_path, v2_path)
    finally:
        lab.down()


def _record(lab: FleetLab, root: Path, v1_path: Path, v2_path: Path) -> Story:
    hosts = [h.name for h in lab.hosts()]
    snapshots = [snapshot(lab, host) for host in hosts]
    first_v1 = {s.host: s.collected_at for s in snapshots}
    first_v2: dict[str, datetime] = {}

    def after_each_host(_line: str) -> None:
        taken = [snapshot(lab, host) for host in hosts]
        snapshots.extend(taken)
        for shot in taken:
            held = lab.state["hosts"].get(shot.host, {}).get("version")
            if held == "v2":
                first_v2.setdefault(shot.host, shot.collected_at)

    # The workloads start and v1's roll-out begins in `up`; v2's begins now.
    published_at = {"v1": datetime.fromisoformat(lab.plan.workloads[0].started_at),
                    "v2": datetime.now(UTC)}
    lab.apply(v2_path, delay=ROLL_OUT_DELAY, failing=[STRAGGLER], report=after_each_host)
    inventory = fleet.inventory_document(lab.plan)
    intents = {"v1": published(v1_path.read_text(), time_folder(published_at["v1"])),
               "v2": published(v2_path.read_text(), time_folder(published_at["v2"]))}
    recorded = root / "recorded"
    write_bundle(recorded, inventory_text=inventory_yaml(inventory), intents=intents,
                 snapshots=snapshots)

    story = Story(lab, recorded, root / "planted", root / "stopped", published_at, first_v2,
                  first_v1)
    _plant(story)
    planted = [*snapshots, snapshot(lab, PLANTED_HOST)]
    write_bundle(story.planted, inventory_text=inventory_yaml(inventory), intents=intents,
                 snapshots=planted)

    # A web workload leaves the inventory's live set; its address stays in every seg-web set.
    gone = next(w for w in lab.plan.workloads if w.host == "node-02" and w.labels["app"] == "web")
    story.stopped_workload = gone.name
    story.stopped_at = datetime.now(UTC)
    for entry in inventory["workloads"]:
        if entry["name"] == gone.name:
            entry["stopped_at"] = time_folder(story.stopped_at)
    later = [snapshot(lab, host) for host in hosts]
    write_bundle(story.stopped, inventory_text=inventory_yaml(inventory), intents=intents,
                 snapshots=[*planted, *later])
    return story


def _plant(story: Story) -> None:
    """On node-01, by hand: an excess ACCEPT (tcp and udp) from node-02's cache into node-01's
    ledger, a rule naming an address no workload owns, and such an address in seg-web."""
    lab = story.lab
    ledger = next(w for w in lab.plan.workloads_on(PLANTED_HOST) if w.labels["app"] == "ledger")
    payments = next(w for w in lab.plan.workloads_on(PLANTED_HOST)
                    if w.labels["app"] == "payments")
    cache = next(w for w in lab.plan.workloads_on("node-02") if w.labels["app"] == "cache")
    chain = chain_name(ledger.spec())
    for proto in ("tcp", "udp"):
        iptables(lab, PLANTED_HOST, "-I", chain, "1", "-s", f"{cache.address}/32", "-p", proto,
                 "-m", proto, "--dport", str(PLANTED_PORT), "-j", "ACCEPT")
    iptables(lab, PLANTED_HOST, "-I", chain_name(payments.spec()), "1", "-s",
             f"{STALE_SOURCE}/32", "-p", "tcp", "-m", "tcp", "--dport", "8080", "-j", "ACCEPT")
    run(["ipset", "add", set_name("web"), STALE_MEMBER], netns=lab.plan.host(PLANTED_HOST).netns)
    story.excess = (cache.name, ledger.name)
    story.planted_chain = chain


def segscope(command: str, bundle: Path, *args: str) -> dict[str, Any]:
    """`segscope COMMAND BUNDLE --json ARGS`, its JSON output."""
    done = subprocess.run([str(SEGSCOPE), command, str(bundle), "--json", *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"segscope {command} failed:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def nearest_rank(values: Sequence[float], rank: float) -> float:
    return sorted(values)[max(1, math.ceil(rank / 100 * len(values))) - 1]


def generation(result: Mapping[str, Any], intent: str) -> dict[str, Any]:
    found = [g for g in result["generations"] if g["cause"] == f"intent {intent}"]
    assert len(found) == 1, f"generations: {[g['cause'] for g in result['generations']]}"
    return dict(found[0])


def findings(bundle: Path, kind: str) -> list[dict[str, Any]]:
    return list(segscope("drift", bundle, "--kind", kind)["findings"])


def _workloads(lab: FleetLab, app: str, host: str | None = None) -> list[str]:
    return sorted(w.name for w in lab.plan.workloads
                  if w.labels["app"] == app and (host is None or w.host == host))


# -- the recording ------------------------------------------------------------------------------

def test_the_bundle_carries_when_each_intent_was_published_and_when_workloads_started(
        story: Story) -> None:
    bundle = read_bundle(story.recorded)

    assert {i.version: i.intent.published_at for i in bundle.intents} == story.published_at
    assert bundle.inventory is not None
    started = moment(story.lab.plan.workloads[0].started_at)
    assert {w.started_at for w in bundle.inventory.workloads} == {started}
    assert {h: len([s for s in bundle.snapshots if s.host == h]) for h in bundle.hosts} == {
        "node-01": 4, "node-02": 4, "node-03": 4}


# -- convergence --------------------------------------------------------------------------------

def test_every_host_converged_on_v1_at_its_first_snapshot(story: Story) -> None:
    first = generation(segscope("convergence", story.recorded), "v1")

    assert moment(first["opened_at"]) == story.published_at["v1"]
    assert {h["host"]: moment(h["converged_at"]) for h in first["hosts"]} == story.first_v1
    assert first["stragglers"] == []


def test_v2_lists_each_host_at_its_first_snapshot_holding_v2_and_the_failed_host_as_straggler(
        story: Story) -> None:
    second = generation(segscope("convergence", story.recorded), "v2")
    opened = story.published_at["v2"]

    assert moment(second["opened_at"]) == opened
    # Every host has a cache workload that v2 opens to web: all three had something to change.
    assert {h["host"]: moment(h["converged_at"]) for h in second["hosts"]} == {
        **story.first_v2, STRAGGLER: None}
    assert set(story.first_v2) == {"node-01", "node-02"}
    assert second["stragglers"] == [STRAGGLER]
    assert (second["converged"], second["listed"]) == (2, 3)
    for host in second["hosts"]:
        at = moment(host["converged_at"])
        expected = None if at is None else (at - opened).total_seconds()
        assert host["seconds"] == pytest.approx(expected), host
    # The roll-out's pace shows: node-02 took about one delay longer than node-01.
    seconds = [h["seconds"] for h in second["hosts"] if h["seconds"] is not None]
    assert second["p50"] == nearest_rank(seconds, 50)
    assert second["p95"] == nearest_rank(seconds, 95)
    assert second["max"] == max(seconds)
    assert sorted(seconds)[1] - sorted(seconds)[0] >= ROLL_OUT_DELAY * 0.9


def test_mid_roll_out_the_graph_opens_web_to_cache_only_on_the_host_that_applied_v2(
        story: Story) -> None:
    at = story.first_v2["node-01"].isoformat()
    edges = segscope("graph", story.recorded, "--at", at)["edges"]
    segments = segscope("graph", story.recorded, "--at", at, "--level", "segment")["edges"]

    toward_cache = {(e["src"], e["dst"]) for e in edges if "tcp/6379" in e["allowed"]}
    assert toward_cache == {(web, cache) for web in _workloads(story.lab, "web")
                            for cache in _workloads(story.lab, "cache", "node-01")}
    web_cache = next(e for e in segments if (e["src"], e["dst"]) == ("web", "cache"))
    assert (web_cache["status"], web_cache["pairs"], web_cache["pairs_allowed"]) == (
        "partial", 9, {"tcp/6379": 3})


# -- drift --------------------------------------------------------------------------------------

def test_the_straggler_misses_exactly_the_pairs_v2_added_toward_its_workloads(
        story: Story) -> None:
    missing = findings(story.recorded, "missing")

    cache = _workloads(story.lab, "cache", STRAGGLER)
    expected = {(STRAGGLER, web, dst, "tcp/6379") for web in _workloads(story.lab, "web")
                for dst in cache}
    got = {(f["host"], *f["workloads"], *f["ports"]) for f in missing}
    assert got == expected, json.dumps(missing, indent=1)
    assert all((f["src_segment"], f["dst_segment"]) == ("web", "cache") for f in missing)


def test_a_fleet_run_by_its_control_plane_has_no_excess_or_stale_finding(story: Story) -> None:
    assert findings(story.recorded, "excess") == []
    assert findings(story.recorded, "stale") == []


def test_a_planted_accept_is_excess_for_the_pair_and_ports_it_lets_through(
        story: Story) -> None:
    excess = findings(story.planted, "excess")

    assert {(f["host"], tuple(f["workloads"])) for f in excess} == {
        (PLANTED_HOST, story.excess)}, json.dumps(excess, indent=1)
    ports = sorted(p for f in excess for p in f["ports"])
    assert ports == [f"tcp/{PLANTED_PORT}", f"udp/{PLANTED_PORT}"]
    assert all(f["rule"]["chain"] == story.planted_chain for f in excess)


def test_a_planted_set_member_no_workload_owns_is_stale(story: Story) -> None:
    stale = findings(story.planted, "stale")

    assert any(f["host"] == PLANTED_HOST and f["set"] == set_name("web")
               and f["address"] == STALE_MEMBER for f in stale), json.dumps(stale, indent=1)


def test_a_planted_rule_naming_an_address_no_workload_owns_is_stale(story: Story) -> None:
    stale = findings(story.planted, "stale")

    assert any(f["host"] == PLANTED_HOST and f["rule"] is not None
               and f["rule"]["chain"].startswith("seg-in-") and f["address"] == STALE_SOURCE
               for f in stale), json.dumps(stale, indent=1)
    assert {f["address"] for f in stale} == {STALE_MEMBER, STALE_SOURCE}


def test_a_stopped_workload_s_address_left_in_sets_is_stale_on_every_host_from_its_stop(
        story: Story) -> None:
    stale = findings(story.stopped, "stale")

    gone = story.lab.plan.workload(story.stopped_workload)
    mine = [f for f in stale if f["address"] == gone.address]
    assert {f["host"] for f in mine} == {h.name for h in story.lab.hosts()}, \
        json.dumps(stale, indent=1)
    assert all(f["set"] == set_name("web") and f["workloads"] == [gone.name] for f in mine)
    assert all(moment(f["since"]) == story.stopped_at for f in mine)


def test_before_its_stop_the_workload_s_address_is_not_stale(story: Story) -> None:
    assert story.stopped_at is not None
    before = (story.stopped_at - timedelta(microseconds=1)).isoformat()
    stale = list(segscope("drift", story.stopped, "--kind", "stale", "--at", before)["findings"])

    assert {f["address"] for f in stale} == {STALE_MEMBER, STALE_SOURCE}


def test_the_stop_is_a_generation_no_host_converges_on_while_its_sets_name_the_address(
        story: Story) -> None:
    result = segscope("convergence", story.stopped)

    stop = [g for g in result["generations"] if g["cause"] == f"stopped {story.stopped_workload}"]
    assert len(stop) == 1, [g["cause"] for g in result["generations"]]
    assert moment(stop[0]["opened_at"]) == story.stopped_at
    assert stop[0]["stragglers"] == [h.name for h in story.lab.hosts()]


# -- the graph against real connections ---------------------------------------------------------

_UDP_LISTEN = """
import json, select, socket, sys
socks = {}
for port in sys.argv[1].split(","):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    s.setblocking(False)
    socks[s.fileno()] = s
print("ready", flush=True)
got = set()
def drain():
    for s in socks.values():
        while True:
            try:
                _, (src, _) = s.recvfrom(2048)
            except BlockingIOError:
                break
            got.add((src, s.getsockname()[1]))
while True:
    readable, _, _ = select.select([*socks, sys.stdin.fileno()], [], [], 60)
    drain()
    if not readable or (sys.stdin.fileno() in readable and not sys.stdin.readline()):
        break
drain()
print(json.dumps(sorted(got)), flush=True)
"""
_UDP_SEND = """
import json, socket, sys
for address, port in json.loads(sys.stdin.read()):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(b"segscope", (address, port))
    s.close()
"""


def _in_netns(netns: str, script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", script, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def udp_round(lab: FleetLab, attempts: Sequence[Attempt]) -> set[tuple[str, str, int]]:
    """Send each attempt's datagrams at once; the (src, dst, port) whose datagrams arrived."""
    by_address = {w.address: w.name for w in lab.plan.workloads}
    ports: dict[str, set[int]] = {}
    targets: dict[str, list[list[Any]]] = {}
    for attempt in attempts:
        ports.setdefault(attempt.dst, set()).add(attempt.dport)
        targets.setdefault(attempt.src, []).append(
            [lab.plan.workload(attempt.dst).address, attempt.dport])
    listeners = {name: _in_netns(lab.plan.workload(name).netns, _UDP_LISTEN,
                                 ",".join(map(str, sorted(wanted))))
                 for name, wanted in ports.items()}
    arrived: set[tuple[str, str, int]] = set()
    try:
        for name, listener in listeners.items():
            assert listener.stdout is not None
            ready, _, _ = select.select([listener.stdout], [], [], 15)
            assert ready and listener.stdout.readline().strip() == "ready", \
                f"UDP listener in {name} did not start"
        for name, wanted in targets.items():
            sender = _in_netns(lab.plan.workload(name).netns, _UDP_SEND)
            _, err = sender.communicate(json.dumps(wanted), timeout=30)
            assert sender.returncode == 0, f"UDP sender in {name}: {err}"
        time.sleep(UDP_SETTLE)
        for name, listener in listeners.items():
            out, err = listener.communicate("", timeout=30)
            assert listener.returncode == 0, f"UDP listener in {name}: {err}"
            arrived |= {(by_address[src], name, port) for src, port in json.loads(out)}
    finally:
        for listener in listeners.values():
            if listener.poll() is None:
                listener.kill()
                listener.wait()
    return arrived


def every_attempt(lab: FleetLab) -> list[Attempt]:
    return [Attempt(src.name, dst.name, port) for src in lab.plan.workloads
            for dst in lab.plan.workloads if src.name != dst.name for port in PROBED_PORTS]


def disagreements(bundle: Path, proto: str, attempts: Sequence[Attempt],
                  connected: set[tuple[str, str, int]]) -> list[str]:
    """Every attempt where the graph and the kernel disagree, with the graph's evidence."""
    edges = {(e["src"], e["dst"]): e for e in segscope("graph", bundle)["edges"]}
    graph = BundleAnalysis(bundle).graph
    out = []
    for attempt in attempts:
        edge = edges.get((attempt.src, attempt.dst))
        listed = edge is not None and PortSet.parse(edge["allowed"]).contains(proto,
                                                                               attempt.dport)
        real = (attempt.src, attempt.dst, attempt.dport) in connected
        if listed == real:
            continue
        if edge is not None and listed:
            evidence = json.dumps(edge["evidence"])
        else:
            blocking = graph.pair(attempt.src, attempt.dst).blocking(
                PortSet.parse([f"{proto}/{attempt.dport}"]))
            evidence = f"allowed {edge['allowed'] if edge else []}; denied by " + json.dumps(
                [e.to_dict(p) for e, p in blocking])
        out.append(f"{attempt.src} -> {attempt.dst} {proto}/{attempt.dport}: kernel "
                   f"{'connected' if real else 'blocked'}, graph {'allows' if listed else 'denies'}"
                   f"; {evidence}")
    return out


def test_the_graph_lists_exactly_the_tcp_connections_the_kernels_let_through(
        story: Story) -> None:
    lab = story.lab
    attempts = every_attempt(lab)
    newest = lab.intent(lab.state["newest"])
    done = run_round(lab.plan, attempts, lab.loaded_intents(), newest, 0, CONNECT_TIMEOUT)

    assert {c.result for c in done} <= {"connected", "timeout"}, \
        [str(c) for c in done if c.result not in ("connected", "timeout")]
    connected = {(c.src, c.dst, c.dport) for c in done if c.result == "connected"}
    assert (*story.excess, PLANTED_PORT) in connected
    assert not any(port == UNLISTED_PORT for _, _, port in connected)
    mismatches = disagreements(story.planted, "tcp", attempts, connected)
    assert not mismatches, "\n".join(mismatches)


def test_the_graph_lists_exactly_the_udp_datagrams_the_kernels_let_through(
        story: Story) -> None:
    attempts = every_attempt(story.lab)
    arrived = udp_round(story.lab, attempts)

    assert arrived == {(*story.excess, PLANTED_PORT)}
    mismatches = disagreements(story.planted, "udp", attempts, arrived)
    assert not mismatches, "\n".join(mismatches)


# -- what `segscope lab record` writes ----------------------------------------------------------

def test_a_lab_recording_says_when_each_intent_was_published_and_shows_the_straggler(
        lab_machine: None, lab_tag: Callable[[], str], tmp_path: Path) -> None:
    tag = lab_tag()
    record(tmp_path / "bundle", tmp_path / f"lab-{tag}" / "state", tag=tag)

    bundle = read_bundle(tmp_path / "bundle")
    assert bundle.inventory is not None
    published_at = {i.version: i.intent.published_at for i in bundle.intents}
    assert {w.started_at for w in bundle.inventory.workloads} == {published_at["v1"]}
    times = {h: sorted(s.collected_at for s in bundle.snapshots if s.host == h)
             for h in bundle.hosts}
    v2 = published_at["v2"]
    assert v2 is not None and all(before <= v2 <= after for before, after in times.values())
    second = generation(segscope("convergence", tmp_path / "bundle"), "v2")
    assert {h["host"]: moment(h["converged_at"]) for h in second["hosts"]} == {
        "node-01": times["node-01"][1], "node-02": times["node-02"][1], RECORD_STRAGGLER: None}
