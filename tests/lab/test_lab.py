"""The lab on a real kernel: building, rolling out, connecting and removing everything."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.bundle import read_bundle
from collectors.lab import fleet
from collectors.lab.droplog import parse_drops
from collectors.lab.netns import LabError, run
from collectors.lab.record import record
from collectors.lab.session import FleetLab
from tests.lab.conftest import V1, droplog_processes, remove_stale_labs, write_intent

pytestmark = pytest.mark.kernel

REPO_ROOT = Path(__file__).resolve().parents[2]


def ulogd_configs_under(directory: Path) -> list[str]:
    return [log.config for log in droplog_processes() if log.config.startswith(str(directory))]


def test_down_leaves_no_namespace_daemon_or_state_file_behind(
        lab_machine: None, lab_tag: Callable[[], str], tmp_path: Path) -> None:
    tag = lab_tag()
    state = tmp_path / f"lab-{tag}" / "state"
    lab = FleetLab.up(state, hosts=2, workloads=2, tag=tag,
                      intent_path=write_intent(tmp_path, "v1", V1))
    try:
        assert len(fleet.lab_namespaces(tag)) == 1 + 2 + 4
        assert len(ulogd_configs_under(state)) == 2
    finally:
        removed = lab.down()

    assert len(removed) == 7
    assert fleet.lab_namespaces(tag) == []
    assert ulogd_configs_under(state) == []
    assert not state.exists()


def test_a_failed_up_removes_what_it_built(lab_machine: None, lab_tag: Callable[[], str],
                                           tmp_path: Path) -> None:
    tag = lab_tag()
    state = tmp_path / f"lab-{tag}" / "state"

    with pytest.raises(LabError, match="node-09"):
        FleetLab.up(state, hosts=2, workloads=1, tag=tag, failing=["node-09"],
                    intent_path=write_intent(tmp_path, "v1", V1))

    assert fleet.lab_namespaces(tag) == []
    assert ulogd_configs_under(state) == []
    assert not state.exists()


def test_a_flat_lab_loads_one_rule_per_peer_and_connects_as_intended(
        make_lab: Callable[..., FleetLab]) -> None:
    lab = make_lab(hosts=2, workloads=4, use_sets=False)

    node = lab.plan.host("node-02")
    saved = run(["iptables-save"], netns=node.netns)
    payments = [w.address for w in lab.plan.workloads if w.labels["app"] == "payments"]
    assert all(f"-s {a}/32 -p tcp -m tcp --dport 5432" in saved for a in payments)
    assert run(["ipset", "save"], netns=node.netns).strip() == ""
    result = lab.traffic(1, timeout=2.0)
    assert all(c.as_expected for c in result.connections)
    assert not result.unlogged


def test_a_host_that_fails_to_apply_keeps_its_rules_and_drops_the_new_allow(
        make_lab: Callable[..., FleetLab], tmp_path: Path) -> None:
    lab = make_lab(hosts=2, workloads=4)
    straggler = lab.plan.host("node-02")
    before = run(["iptables-save"], netns=straggler.netns)

    results = lab.apply(write_intent(tmp_path, "v2", [*V1, "{from: web, to: cache, ports: "
                                                          "[tcp/6379]}"]),
                        failing=["node-02"], delay=0.05)

    assert [r.applied for r in results] == [True, False]
    assert run(["iptables-save"], netns=straggler.netns).count("-A ") == before.count("-A ")
    traffic = lab.traffic(1, timeout=2.0).connections
    late = [c for c in traffic if c.straggler]
    assert late and all(c.blocked for c in late)
    assert all(lab.plan.workload(c.dst).host == "node-02" for c in late)
    assert any(c.dport == 6379 and c.result == "connected" for c in traffic)


def test_the_command_line_brings_a_lab_up_shows_it_and_takes_it_down(
        lab_machine: None, lab_tag: Callable[[], str], tmp_path: Path) -> None:
    tag = lab_tag()
    state = tmp_path / f"lab-{tag}" / "state"
    intent = write_intent(tmp_path, "v1", V1)

    def lab_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "collectors.lab", *args, "--state-dir",
                               str(state)], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=120)

    try:
        up = lab_cli("up", "--hosts", "2", "--workloads", "1", "--intent", str(intent),
                     "--tag", tag)
        assert up.returncode == 0, up.stderr
        assert "node-02: intent v1 applied" in up.stdout
        status = lab_cli("status")
        assert status.returncode == 0, status.stderr
        assert "node-01  10.255.0.1" in status.stdout and "10.2.0.1" in status.stdout
        again = lab_cli("up", "--hosts", "1", "--workloads", "1", "--intent", str(intent))
        assert again.returncode == 1 and "already up" in again.stderr
    finally:
        down = lab_cli("down")
    assert down.returncode == 0, down.stderr
    assert "removed 5 namespaces" in down.stdout
    assert fleet.lab_namespaces(tag) == []


def test_labs_of_test_processes_that_died_are_removed(lab_machine: None) -> None:
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not Path(f"/proc/{pid}").exists())
    name = f"{fleet.PREFIX}-t{dead:x}g1-f"
    run(["ip", "netns", "add", name])
    try:
        remove_stale_labs()

        assert name not in run(["ip", "netns", "list"]).split()
    finally:
        run(["ip", "netns", "del", name], check=False)


def test_a_recording_holds_two_intents_two_snapshots_a_host_and_the_straggler_s_drop(
        lab_machine: None, lab_tag: Callable[[], str], tmp_path: Path) -> None:
    tag = lab_tag()

    summary = record(tmp_path / "bundle", tmp_path / f"lab-{tag}" / "state", tag=tag)

    bundle = read_bundle(tmp_path / "bundle")
    assert [i.version for i in bundle.intents] == ["v1", "v2"]
    assert Counter(s.host for s in bundle.snapshots) == {"node-01": 2, "node-02": 2,
                                                         "node-03": 2}
    assert summary.straggler_drops == 1
    late = [d for flow in bundle.flows if flow.host == "node-03"
            for d in parse_drops("node-03", flow.text) if d.dport == 6379]
    assert late and all(d.prefix.startswith("segscope-drop cache-") for d in late)
    assert fleet.lab_namespaces(tag) == []
