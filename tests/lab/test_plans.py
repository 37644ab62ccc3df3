"""The lab's pure parts: fleet plans, roll-out inputs, connection plans and drop-log lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from collectors.bundle import inventory_yaml
from collectors.intent import parse_intent
from collectors.inventory import parse_inventory
from collectors.lab.cli import add_lab_parser
from collectors.lab.control import ipset_restore_input, set_names
from collectors.lab.droplog import parse_drops, ulogd_config
from collectors.lab.fleet import FleetPlan, inventory_document, plan_fleet
from collectors.lab.netns import LabError
from collectors.lab.record import DEMO_INTENTS
from collectors.lab.session import load_labels
from collectors.lab.traffic import (
    UNLISTED_PORT,
    Connection,
    intent_allows,
    plan_attempts,
)

STARTED = "2026-11-26T03:00:00Z"
V1 = parse_intent(yaml.safe_load(DEMO_INTENTS["v1"]), "v1.yaml", "v1")
V2 = parse_intent(yaml.safe_load(DEMO_INTENTS["v2"]), "v2.yaml", "v2")


@pytest.fixture
def plan() -> FleetPlan:
    return plan_fleet("demo", 3, 4, STARTED)


def test_each_host_gets_a_workload_network_and_each_workload_a_cali_interface(
        plan: FleetPlan) -> None:
    assert [h.name for h in plan.hosts] == ["node-01", "node-02", "node-03"]
    assert [w.address for w in plan.workloads_on("node-02")] == [
        "10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4"]
    assert all(w.interface.startswith("cali") and len(w.interface) == 12
               for w in plan.workloads)
    assert len({w.interface for w in plan.workloads}) == 12
    assert plan.host("node-03").address == "10.255.0.3"
    assert all(ns.startswith("ssl-demo-") for ns in plan.namespaces)


def test_every_host_runs_each_app_of_the_demo_mix_once(plan: FleetPlan) -> None:
    for host in plan.hosts:
        apps = sorted(w.labels["app"] for w in plan.workloads_on(host.name))
        assert apps == ["cache", "ledger", "payments", "web"]
    assert all(w.labels["env"] == "prod" for w in plan.workloads)


def test_names_and_interfaces_do_not_depend_on_the_tag(plan: FleetPlan) -> None:
    other = plan_fleet("x1", 3, 4, STARTED)

    assert [(w.name, w.interface) for w in other.workloads] == [
        (w.name, w.interface) for w in plan.workloads]


def test_a_plan_survives_its_state_file(plan: FleetPlan) -> None:
    assert FleetPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_the_lab_inventory_reads_back_as_a_segscope_inventory(plan: FleetPlan) -> None:
    inventory = parse_inventory(inventory_yaml(inventory_document(plan)), "inventory.yaml")

    assert inventory.scope == {"node-01", "node-02", "node-03"}
    entry = next(w for w in inventory.workloads if w.name == plan.workloads[0].name)
    assert (entry.host, entry.addresses, entry.interface) == (
        "node-01", ("10.1.0.1",), plan.workloads[0].interface)
    assert entry.started_at is not None and entry.started_at.isoformat() == (
        "2026-11-26T03:00:00+00:00")


@pytest.mark.parametrize(("args", "message"), [
    (("Bad-Tag", 1, 1), "lab tag"), (("t", 0, 1), "--hosts"), (("t", 201, 1), "--hosts"),
    (("t", 1, 251), "--workloads")])
def test_a_plan_refuses_a_bad_tag_or_size(args: tuple[str, int, int], message: str) -> None:
    with pytest.raises(LabError, match=message):
        plan_fleet(*args, STARTED)


def test_a_labels_mix_names_the_workloads_after_their_app() -> None:
    plan = plan_fleet("t", 1, 2, STARTED, [{"app": "api", "tier": "front"}, {"role": "db"}])

    assert [w.name.rsplit("-", 1)[0] for w in plan.workloads] == ["api", "workload"]
    assert plan.workloads[1].labels == {"role": "db"}


def test_the_ipset_input_flushes_each_set_right_after_creating_it() -> None:
    text = ("create seg-web hash:ip family inet hashsize 1024 maxelem 65536\n"
            "add seg-web 10.1.0.3\n")

    assert ipset_restore_input(text).splitlines() == [
        "create seg-web hash:ip family inet hashsize 1024 maxelem 65536", "flush seg-web",
        "add seg-web 10.1.0.3"]
    assert set_names(text) == {"seg-web"}
    assert ipset_restore_input("") == ""


def test_intent_allows_only_intended_ports_from_intended_segments(plan: FleetPlan) -> None:
    web = next(w for w in plan.workloads if w.labels["app"] == "web")
    cache = next(w for w in plan.workloads if w.labels["app"] == "cache")
    payments = next(w for w in plan.workloads if w.labels["app"] == "payments")

    assert intent_allows(V1, web, payments, "tcp", 8080)
    assert not intent_allows(V1, web, payments, "tcp", 8081)
    assert not intent_allows(V1, payments, web, "tcp", 8080)
    assert not intent_allows(V1, web, cache, "tcp", 6379)
    assert intent_allows(V2, web, cache, "tcp", 6379)


def test_attempts_try_each_intended_port_and_an_unlisted_one_from_each_mix(
        plan: FleetPlan) -> None:
    attempts = plan_attempts(plan, V2)

    into_cache = {a.dport for a in attempts if a.dst.startswith("cache-")}
    assert into_cache == {6379, UNLISTED_PORT}
    ledger = plan.workloads_on("node-01")[1].name
    sources = {a.src.split("-")[0] for a in attempts if a.dst == ledger and a.dport == 5432}
    assert sources == {"payments", "ledger", "web", "cache"}
    assert all(a.src != a.dst for a in attempts)
    assert plan_attempts(plan, V2, 1) != attempts  # sources rotate with the round


def test_a_blocked_connection_the_newest_intent_allows_is_a_straggler() -> None:
    late = Connection(0, "web-1", "10.1.0.3", 40000, "cache-2", "10.3.0.2", 6379, "timeout",
                      allowed=False, intended=True)

    assert late.blocked and late.straggler and late.as_expected
    assert "host not converged" in str(late)
    assert not Connection(0, "a", "10.1.0.1", 1, "b", "10.1.0.2", 2, "connected", False,
                          False).as_expected


def test_ulogd_reads_nflog_group_1_into_json_lines_written_through() -> None:
    config = ulogd_config("/usr/lib/x86_64-linux-gnu/ulogd", "/lab/drops.json", "/lab/u.log")

    assert "[log1]\ngroup=1" in config
    assert 'file="/lab/drops.json"' in config and "sync=1" in config
    assert "stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON" in config


def test_a_drop_line_still_being_written_is_left_for_later() -> None:
    line = json.dumps({"src_ip": "10.1.0.3", "src_port": 40000, "dest_ip": "10.3.0.2",
                       "dest_port": 6379, "ip.protocol": 6, "oob.prefix": "segscope-drop c",
                       "oob.time.sec": 1795662010, "oob.time.usec": 500000})

    drops = list(parse_drops("node-03", line + "\n" + line[:20]))

    assert len(drops) == 1
    assert (drops[0].src, drops[0].sport, drops[0].dst, drops[0].dport, drops[0].prefix) == (
        "10.1.0.3", 40000, "10.3.0.2", 6379, "segscope-drop c")
    assert drops[0].at == 1795662010.5


def test_a_labels_file_is_a_list_of_label_mappings(tmp_path: Path) -> None:
    good = tmp_path / "labels.yaml"
    good.write_text("- {app: api, tier: front}\n- {app: db}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("app: api\n")

    assert load_labels(good) == [{"app": "api", "tier": "front"}, {"app": "db"}]
    with pytest.raises(LabError, match="expected a list of label mappings"):
        load_labels(bad)


def test_the_lab_command_plugs_into_segscope_s_subcommands(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="segscope")
    add_lab_parser(parser.add_subparsers())

    args = parser.parse_args(["lab", "status", "--state-dir", str(tmp_path / "none")])

    assert args.handler(args) == 1  # no lab there: one line on stderr, exit 1
