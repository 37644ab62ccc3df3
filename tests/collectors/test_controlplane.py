"""The lab's control plane writes rules whose verdicts are what the intent says."""

import pytest
import yaml

from collectors.controlplane import WorkloadSpec, render_host
from collectors.intent import parse_intent
from webapp.engine.host import load_host
from webapp.engine.packet import Packet

INTENT = parse_intent(yaml.safe_load("""
segments:
  payments: {app: payments}
  ledger: {app: ledger}
allow:
  - {from: payments, to: ledger, ports: [tcp/5432]}
"""))
WORKLOADS = [
    WorkloadSpec("payments-1", "node-01", ("10.1.0.5",), "cali0001", labels={"app": "payments"}),
    WorkloadSpec("web-1", "node-01", ("10.1.0.6",), "cali0002", labels={"app": "web"}),
    WorkloadSpec("ledger-1", "node-02", ("10.2.0.9",), "cali0003", labels={"app": "ledger"}),
]


@pytest.mark.parametrize("use_sets", [True, False])
def test_the_rendered_rules_allow_exactly_the_intended_flows(use_sets):
    rules = render_host("node-02", INTENT, WORKLOADS, use_sets=use_sets)
    host = load_host(iptables=rules.iptables, ipset=rules.ipset if use_sets else None)

    def verdict(src, dport):
        packet = Packet(src=src, dst="10.2.0.9", proto="tcp", sport=40000, dport=dport,
                        in_iface="eth0", out_iface="cali0003")
        return host.explain(packet, "FORWARD").verdict

    assert verdict("10.1.0.5", 5432) == "ACCEPT"
    assert verdict("10.1.0.5", 5433) == "DROP"
    assert verdict("10.1.0.6", 5432) == "DROP"


def test_the_source_host_lets_its_workloads_send():
    rules = render_host("node-01", INTENT, WORKLOADS)
    host = load_host(iptables=rules.iptables, ipset=rules.ipset)
    packet = Packet(src="10.1.0.5", dst="10.2.0.9", proto="tcp", sport=40000, dport=5432,
                    in_iface="cali0001", out_iface="eth0")
    assert host.explain(packet, "FORWARD").verdict == "ACCEPT"


def test_flat_acls_need_a_rule_per_peer_address_where_sets_need_one_per_segment():
    many = WORKLOADS + [WorkloadSpec(f"payments-{i}", "node-03", (f"10.3.0.{i}",), f"cali1{i:03}",
                                     labels={"app": "payments"}) for i in range(2, 22)]
    flat = render_host("node-02", INTENT, many, use_sets=False).iptables
    with_sets = render_host("node-02", INTENT, many, use_sets=True)
    assert flat.count("--dport 5432") == 21
    assert with_sets.iptables.count("--dport 5432") == 1
    assert with_sets.ipset.count("add seg-payments ") == 21


def test_names_with_quotes_spaces_and_markup_render_rules_the_parser_reads():
    intent = parse_intent({
        "segments": {'=pay "ments"\' <b>': {"app": "payments"}, "ledger": {"app": "ledger"}},
        "allow": [{"from": '=pay "ments"\' <b>', "to": "ledger", "ports": ["tcp/5432"]}]})
    workloads = [
        WorkloadSpec('pay "1"', "node-01", ("10.1.0.5",), "cali0001", labels={"app": "payments"}),
        WorkloadSpec("ledger \\ 1", "node-02", ("10.2.0.9",), "cali0003",
                     labels={"app": "ledger"}),
    ]

    rules = render_host("node-02", intent, workloads, use_sets=True)
    host = load_host(iptables=rules.iptables, ipset=rules.ipset)

    packet = Packet(src="10.1.0.5", dst="10.2.0.9", proto="tcp", sport=40000, dport=5432,
                    in_iface="eth0", out_iface="cali0003")
    assert host.explain(packet, "FORWARD").verdict == "ACCEPT"
    assert '--comment "allow =pay \\"ments\\"\' <b> -> ledger"' in rules.iptables
    assert '--nflog-prefix "segscope-drop ledger \\\\ 1"' in rules.iptables
