"""End to end: a lab fleet, a real Segscope server, the real agent on every host, real traffic.

3 hosts x 4 workloads run intent v2 except node-03, which failed to apply it and still runs v1
(a straggler). One round of connections is made; then each host's agent (`--once`) sends its
dumps and its ulogd2 drop log to the live server. What the server stored must be what the
kernel held and logged.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from collectors.lab import droplog
from collectors.lab.control import render_fleet
from collectors.lab.session import FleetLab, TrafficResult
from collectors.lab.traffic import Connection
from tests.lab.conftest import V2, write_intent
from webapp.flows.models import FlowRecord
from webapp.inventory.models import AgentToken, Host, Workload
from webapp.rules.models import ParsedRule

pytestmark = [pytest.mark.kernel, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
AGENT_TIMEOUT = 120


@dataclass(frozen=True)
class Scenario:
    """The lab after its traffic round."""

    lab: FleetLab
    traffic: TrafficResult


@pytest.fixture(scope="module")
def scenario(lab_machine: None, lab_tag: Callable[[], str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tag = lab_tag()
    root = tmp_path_factory.mktemp(f"lab-{tag}", numbered=False)
    lab = FleetLab.up(root / "state", hosts=3, workloads=4, tag=tag,
                      intent_path=write_intent(root, "v1", V2[:2]))
    try:
        lab.apply(write_intent(root, "v2", V2), failing=["node-03"])
        yield Scenario(lab, lab.traffic(1, timeout=2.0))
    finally:
        lab.down()


def run_agents(lab: FleetLab, server: str, directory: Path) -> None:
    """Import the lab's inventory, give each host a token and run its agent once, all at the
    same time."""
    call_command("import_inventory", str(lab.state_dir / "inventory.yaml"), stdout=StringIO())
    agents = {}
    for host in lab.hosts():
        _, token = AgentToken.issue(Host.objects.get_or_create(name=host.name)[0])
        token_file = directory / f"{host.name}.token"
        token_file.write_text(token)
        os.chmod(token_file, 0o600)
        agents[host.name] = subprocess.Popen(
            [sys.executable, "-m", "collectors.agent", "--server", server, "--token-file",
             str(token_file), "--host", host.name, "--netns", host.netns, "--once",
             "--spool-dir", str(directory / f"spool-{host.name}"),
             "--flow-log", f"ulogd2:{lab.drop_log(host.name).json_path}"],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, agent in agents.items():
        out, err = agent.communicate(timeout=AGENT_TIMEOUT)
        assert agent.returncode == 0, f"agent of {name} failed:\n{err}"


def rule_key(text: str) -> tuple[str, ...]:
    """A rule as a multiset of its words: iptables-save may reorder a target's options."""
    return tuple(sorted(shlex.split(text)))


def test_the_fleet_behaves_as_each_host_s_loaded_intent_says(scenario: Scenario) -> None:
    connections = scenario.traffic.connections

    assert connections and all(c.as_expected for c in connections)
    assert any(c.result == "connected" for c in connections)
    assert any(c.straggler and c.blocked for c in connections)
    assert not scenario.traffic.unlogged


def test_each_host_s_snapshot_holds_its_rendered_rules_with_counters_where_traffic_went(
        scenario: Scenario, live_server: object, tmp_path: Path) -> None:
    lab = scenario.lab
    run_agents(lab, str(live_server), tmp_path)

    assert Workload.objects.filter(stopped_at__isnull=True).count() == 12
    loaded = lab.loaded_intents()
    for host in lab.hosts():
        intent = loaded[host.name]
        assert intent is not None
        rendered = render_fleet(lab.plan, intent, use_sets=True)[host.name]
        snapshot = Host.objects.get(name=host.name).last_snapshot
        assert snapshot is not None, f"{host.name} sent no snapshot"
        rules = list(ParsedRule.objects.filter(snapshot=snapshot, source="iptables-save",
                                               table="filter"))
        stored = Counter(rule_key(r.text) for r in rules)
        wanted = Counter(rule_key(line) for line in rendered.iptables.splitlines()
                         if line.startswith("-A "))
        assert stored == wanted, f"{host.name} holds other rules than rendered"

        packets = {(r.chain, r.text): r.packets or 0 for r in rules}
        for connection in scenario.traffic.connections:
            dst = lab.plan.workload(connection.dst)
            if dst.host != host.name:
                continue
            chain = f"seg-in-{dst.interface}"
            mine = {text: n for (c, text), n in packets.items() if c == chain}
            if connection.result == "connected":
                hit = [n for text, n in mine.items()
                       if f"--dport {connection.dport} " in text and text.endswith("ACCEPT")]
            else:
                hit = [n for text, n in mine.items()
                       if text.endswith(("-j DROP", "--nflog-group 1"))]
            assert hit and all(n > 0 for n in hit), f"no counters for {connection}"


def test_drop_flows_are_the_connections_the_kernel_blocked_and_name_the_workload(
        scenario: Scenario, live_server: object, tmp_path: Path) -> None:
    lab = scenario.lab
    run_agents(lab, str(live_server), tmp_path)

    blocked: dict[tuple[str, str, int | None], Connection] = {
        (c.src_address, c.dst_address, c.dport): c for c in scenario.traffic.connections
        if c.blocked}
    logged = {(d.src, d.dst, d.dport): d for host in lab.hosts()
              for d in droplog.read_drops(lab.drop_log(host.name))}
    flows = list(FlowRecord.objects.select_related("host"))
    assert set(logged) == set(blocked)
    assert {(f.src, f.dst, f.dport) for f in flows} == set(blocked)
    for flow in flows:
        dst = lab.plan.workload(blocked[(flow.src, flow.dst, flow.dport)].dst)
        assert (flow.verdict, flow.proto, flow.host.name) == ("DROP", 6, dst.host)
        assert flow.rule_ref == f"segscope-drop {dst.name}"
        assert flow.rule_ref == logged[(flow.src, flow.dst, flow.dport)].prefix
