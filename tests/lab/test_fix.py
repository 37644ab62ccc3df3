"""`segscope fix` against a real fleet: the fix it proposes first, applied with the very commands
it prints, lets the blocked connection through and opens exactly what it says it opens.

2 hosts x 6 workloads come up with intent v1; v2 (web -> cache tcp/6379) is rolled out and
node-02 fails to apply it, so web -> node-02's cache is blocked there. Each case records the
current state of every host as a bundle, asks the real `segscope fix` about a blocked flow,
checks that `blocked_by` names the rule the destination host's kernel drops the connection with
(the chain and rule number whose counter a real SYN raises), then tries every workload pair on
the probed ports, runs the candidate's commands inside the namespaces of the hosts named in
`on`, and tries every pair again: the (pair, port) whose reachability changed must be exactly
the asked flow plus the candidate's `opens`. The first cases apply the first candidate (an
allow rule); the last applies the best set member candidate (`ipset add`), which opens the same
port to the other workloads whose chains look the set up. (A set member never ranks first here:
the allow rule for exactly the flow opens nothing else, and rules rank before set members.)
No database: the analysis runs offline.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.bundle import SnapshotFiles, inventory_yaml, time_folder, write_bundle
from collectors.controlplane import chain_name, set_name
from collectors.lab import fleet
from collectors.lab.fleet import LabWorkload
from collectors.lab.netns import run
from collectors.lab.record import published
from collectors.lab.session import FleetLab
from collectors.lab.traffic import UNLISTED_PORT, Attempt, run_round
from tests.lab.conftest import V1, V2, write_intent
from webapp.engine.analysis.ports import PortSet

pytestmark = pytest.mark.kernel

SEGSCOPE = Path(sys.executable).with_name("segscope")
STRAGGLER = "node-02"
INTENT_PORTS = (5432, 6379, 8080)
CONNECT_TIMEOUT = 1.0

Reach = tuple[str, str, int]  # (source workload, destination workload, TCP port)


@dataclass
class Lab:
    """The fleet, still up, and what a bundle of it needs besides the dumps."""

    lab: FleetLab
    root: Path
    intents: dict[str, str]
    bundles: int = 0

    def workload(self, app: str, host: str) -> LabWorkload:
        return next(w for w in self.lab.plan.workloads_on(host) if w.labels["app"] == app)

    def record(self) -> Path:
        """A bundle of every host as it is now."""
        self.bundles += 1
        path = self.root / f"bundle-{self.bundles}"
        snapshots = []
        for host in self.lab.hosts():
            collection = self.lab.collect(host.name)
            snapshots.append(SnapshotFiles(
                host.name, datetime.fromtimestamp(collection.collected_at, UTC),
                dict(collection.dumps)))
        write_bundle(path, inventory_text=inventory_yaml(fleet.inventory_document(self.lab.plan)),
                     intents=self.intents, snapshots=snapshots)
        return path


@pytest.fixture(scope="module")
def lab(lab_machine: None, lab_tag: Callable[[], str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tag = lab_tag()
    root = tmp_path_factory.mktemp(f"lab-{tag}", numbered=False)
    v1_path, v2_path = write_intent(root, "v1", V1), write_intent(root, "v2", V2)
    fleet_lab = FleetLab.up(root / "state", hosts=2, workloads=6, tag=tag, intent_path=v1_path)
    try:
        v1_at = datetime.fromisoformat(fleet_lab.plan.workloads[0].started_at)
        v2_at = datetime.now(UTC)
        fleet_lab.apply(v2_path, failing=[STRAGGLER])
        assert fleet_lab.state["hosts"][STRAGGLER]["version"] == "v1"
        yield Lab(fleet_lab, root, {
            "v1": published(v1_path.read_text(), time_folder(v1_at)),
            "v2": published(v2_path.read_text(), time_folder(v2_at))})
    finally:
        fleet_lab.down()


def segscope_fix(bundle: Path, src: str, dst: str, port: int) -> dict[str, Any]:
    done = subprocess.run([str(SEGSCOPE), "fix", str(bundle), "--src", src, "--dst", dst,
                           "--proto", "tcp", "--dport", str(port), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"segscope fix failed:\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def reachable(lab: Lab, ports: Sequence[int]) -> set[Reach]:
    """Every workload pair tried for real on every port: those that connected."""
    fleet_lab = lab.lab
    attempts = [Attempt(src.name, dst.name, port) for src in fleet_lab.plan.workloads
                for dst in fleet_lab.plan.workloads if src.name != dst.name for port in ports]
    newest = fleet_lab.intent(fleet_lab.state["newest"])
    done = run_round(fleet_lab.plan, attempts, fleet_lab.loaded_intents(), newest, 0,
                     CONNECT_TIMEOUT)
    assert {c.result for c in done} <= {"connected", "timeout"}, \
        [str(c) for c in done if c.result not in ("connected", "timeout")]
    return {(c.src, c.dst, c.dport) for c in done if c.result == "connected"}


def dropping_rules(lab: Lab, src: LabWorkload, dst: LabWorkload, port: int) -> list[
        tuple[str, int]]:
    """(chain, rule number) of every DROP rule in the destination's ingress chain whose packet
    counter one real connection attempt raises."""
    netns = lab.lab.plan.host(dst.host).netns
    chain = chain_name(dst.spec())
    run(["iptables", "-Z", chain], netns=netns)
    [tried] = run_round(lab.lab.plan, [Attempt(src.name, dst.name, port)],
                        lab.lab.loaded_intents(), lab.lab.intent(lab.lab.state["newest"]), 0,
                        CONNECT_TIMEOUT)
    assert tried.result == "timeout", str(tried)
    listing = run(["iptables", "-L", chain, "-n", "-v", "-x", "--line-numbers"], netns=netns)
    found = []
    for line in listing.splitlines()[2:]:
        number, packets, _bytes, target = line.split()[:4]
        if target == "DROP" and int(packets) > 0:
            found.append((chain, int(number)))
    return found


def opened(candidate: dict[str, Any], ports: Sequence[int]) -> set[Reach]:
    """The (pair, port) among `ports` the candidate's `opens` lists."""
    return {(edge["src"], edge["dst"], port) for edge in candidate["opens"] for port in ports
            if PortSet.parse(edge["allowed"]).contains("tcp", port)}


def probed_ports(asked: int, candidate: dict[str, Any]) -> list[int]:
    """The asked port, the intent's ports, one port no rule names and the first port of every
    range the candidate opens (so that each entry of `opens` is tried)."""
    ports = {asked, *INTENT_PORTS, UNLISTED_PORT}
    for edge in candidate["opens"]:
        for text in edge["allowed"]:
            assert text.startswith("tcp/"), f"a TCP fix opens {text}: {edge}"
            ports.add(int(text.removeprefix("tcp/").split("-")[0]))
    return sorted(ports)


def apply(lab: Lab, candidate: dict[str, Any]) -> None:
    """Run each command as printed, inside the namespace of the host `on` names."""
    assert len(candidate["on"]) == len(candidate["commands"])
    for host, command in zip(candidate["on"], candidate["commands"], strict=True):
        run(shlex.split(command), netns=lab.lab.plan.host(host).netns)


def check_fix(lab: Lab, src: LabWorkload, dst: LabWorkload, port: int,
              candidate: dict[str, Any]) -> None:
    """Before and after the candidate: what changed is the flow and the candidate's `opens`."""
    ports = probed_ports(port, candidate)
    before = reachable(lab, ports)
    assert (src.name, dst.name, port) not in before
    apply(lab, candidate)
    after = reachable(lab, ports)

    assert before <= after, f"the fix closed {sorted(before - after)}"
    expected = {(src.name, dst.name, port)} | opened(candidate, ports)
    assert after - before == expected, (
        f"opened but not reported: {sorted(after - before - expected)}; "
        f"reported but not opened: {sorted(expected - (after - before))}; "
        f"candidate: {json.dumps(candidate, indent=1)}")
    for edge in candidate["opens"]:
        assert any((edge["src"], edge["dst"], p) in after for p in ports), edge


# From another host, then from the straggler itself (its chain now holds the first fix).
@pytest.mark.parametrize("src_host", ["node-01", STRAGGLER])
def test_the_first_fix_for_a_flow_the_straggler_blocks_lets_exactly_it_through(
        lab: Lab, src_host: str) -> None:
    src = lab.workload("web", src_host)
    dst = lab.workload("cache", STRAGGLER)
    port = 6379
    drops = dropping_rules(lab, src, dst, port)
    assert len(drops) == 1, drops
    chain, number = drops[0]
    bundle = lab.record()

    result = segscope_fix(bundle, src.name, dst.name, port)

    assert [(b["host"], b["chain"], b["rule_number"], b["verdict"])
            for b in result["blocked_by"]] == [(STRAGGLER, chain, number, "DROP")], \
        json.dumps(result["blocked_by"], indent=1)
    assert result["candidates"], json.dumps(result, indent=1)
    first = result["candidates"][0]
    # Right before the drop, moved up past the NFLOG rule that logs it.
    assert (first["kind"], first["on"], first["commands"]) == ("rule", [STRAGGLER], [
        f"iptables -I {chain} {number - 1} -s {src.address}/32 -d {dst.address}/32 "
        f"-p tcp -m tcp --dport {port} -j ACCEPT"]), json.dumps(first, indent=1)
    assert (first["opens"], first["exposure"]) == ([], 0)
    check_fix(lab, src, dst, port, first)


def test_a_set_member_fix_opens_the_flow_and_every_pair_the_set_lets_through(
        lab: Lab) -> None:
    # A cache is in no seg-payments set; node-01 has two ledgers whose chains look it up.
    src = lab.workload("cache", STRAGGLER)
    dst = lab.workload("ledger", "node-01")
    port = 5432
    drops = dropping_rules(lab, src, dst, port)
    assert len(drops) == 1, drops
    chain, number = drops[0]
    bundle = lab.record()

    result = segscope_fix(bundle, src.name, dst.name, port)

    assert [(b["host"], b["chain"], b["rule_number"]) for b in result["blocked_by"]] == [
        ("node-01", chain, number)], json.dumps(result["blocked_by"], indent=1)
    sets = [c for c in result["candidates"] if c["kind"] == "set"]
    assert sets, json.dumps(result, indent=1)
    candidate = sets[0]
    assert (candidate["on"], candidate["commands"]) == (
        ["node-01"], [f"ipset add {set_name('payments')} {src.address}"]), \
        json.dumps(candidate, indent=1)
    other_ledgers = [w.name for w in lab.lab.plan.workloads_on("node-01")
                     if w.labels["app"] == "ledger" and w.name != dst.name]
    assert other_ledgers, "the set fix should open more than the flow"
    check_fix(lab, src, dst, port, candidate)
