"""The effective graph on hand-built fleets with known answers."""

from __future__ import annotations

import json

import pytest

from tests.engine.analysis.fleets import add_rule, build, intent, workload
from webapp.engine.analysis.edges import segment_edges, workload_edges
from webapp.engine.analysis.fleet import Fleet, load_host_state
from webapp.engine.analysis.graph import EffectiveGraph, PairVerdict, compute_graph
from webapp.engine.analysis.ports import PortSet

POLICY = intent([("web", "db", ["tcp/5432"]), ("web", "cache", ["tcp/6379", "udp/53"])])
WORKLOADS = (
    workload("web-1", "n1", "10.1.0.1", "web"), workload("db-1", "n1", "10.1.0.2", "db"),
    workload("web-2", "n2", "10.2.0.1", "web"), workload("db-2", "n2", "10.2.0.2", "db"),
    workload("cache-1", "n2", "10.2.0.3", "cache"),
)
EXPECTED = {
    ("web-1", "db-1"): ["tcp/5432"], ("web-1", "db-2"): ["tcp/5432"],
    ("web-2", "db-1"): ["tcp/5432"], ("web-2", "db-2"): ["tcp/5432"],
    ("web-1", "cache-1"): ["tcp/6379", "udp/53"], ("web-2", "cache-1"): ["tcp/6379", "udp/53"],
}


def allowed(fleet: Fleet) -> dict[tuple[str, str], list[str]]:
    return {key: pair.allowed.texts() for key, pair in compute_graph(fleet).pairs.items()}


@pytest.mark.parametrize("use_sets", [True, False], ids=["ipsets", "per-peer"])
def test_it_allows_exactly_the_intended_pairs(use_sets: bool) -> None:
    assert allowed(build(POLICY, WORKLOADS, use_sets=use_sets)) == EXPECTED


def test_it_names_the_accepting_rule_on_both_hosts_of_a_remote_pair() -> None:
    graph = compute_graph(build(POLICY, WORKLOADS))
    evidence = [(e.host, e.chain, e.verdict) for e, _ in graph.pairs[("web-1", "db-2")].evidence()]
    assert evidence[0][0] == "n1" and evidence[0][1] == "FORWARD"
    assert evidence[1][0] == "n2" and evidence[1][1].startswith("seg-in-")
    assert {v for _, _, v in evidence} == {"ACCEPT"}


def test_a_pair_on_one_host_crosses_its_forward_chain_once() -> None:
    graph = compute_graph(build(POLICY, WORKLOADS))
    pair = graph.pairs[("web-1", "db-1")]
    assert pair.egress is None
    assert {e.host for e, _ in pair.evidence()} == {"n1"}


def test_a_drop_on_the_source_host_blocks_the_pair() -> None:
    web_1 = WORKLOADS[0]
    drop = add_rule(f"-I FORWARD 1 -i {web_1.interface} -p tcp --dport 5432 -j DROP",
                    before="-A FORWARD")

    def edit(host: str, dumps: dict[str, str]) -> dict[str, str]:
        if host == "n1":
            return {**dumps, "iptables-save": drop(host, dumps["iptables-save"]).replace(
                "-I FORWARD 1", "-A FORWARD")}
        return dumps

    graph = compute_graph(build(POLICY, WORKLOADS, edit=edit))
    assert ("web-1", "db-2") not in graph.pairs
    assert ("web-2", "db-2") in graph.pairs
    blocked = graph.pair("web-1", "db-2").blocking(PortSet.parse(["tcp/5432"]))
    assert [(e.host, e.verdict, e.rule_number) for e, _ in blocked] == [("n1", "DROP", 1)]


def test_it_merges_and_sorts_ports_as_the_contract_spells_them() -> None:
    policy = intent([("web", "db", ["tcp/8000-8100", "udp/53", "tcp/22", "icmp",
                                     "tcp/8101-8200"])])
    graph = compute_graph(build(policy, WORKLOADS))
    assert graph.pairs[("web-1", "db-2")].allowed.texts() == [
        "tcp/22", "tcp/8000-8200", "udp/53", "icmp"]


def test_a_host_without_rules_filters_nothing() -> None:
    fleet = build(POLICY, WORKLOADS)
    fleet.hosts["n2"] = load_host_state("n2", {}, None)
    graph = compute_graph(fleet)
    # n1 lets its workloads out on anything; n2 no longer filters what comes in.
    assert graph.pairs[("web-1", "db-2")].allowed == PortSet.everything()
    assert graph.pairs[("db-2", "cache-1")].allowed == PortSet.everything()
    assert ("db-2", "web-1") not in graph.pairs  # n1 still filters what comes in


def test_a_host_network_workload_is_reached_through_input() -> None:
    agent = workload("agent", "n2", "10.255.0.2", "agent", attachment="host")
    text = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -s 10.1.0.0/24 -p tcp -m tcp --dport 9100 -j ACCEPT\nCOMMIT\n")
    fleet = Fleet({"n1": load_host_state("n1", {}, None),
                   "n2": load_host_state("n2", {"iptables-save": text}, None, (),
                                         [agent])},
                  (WORKLOADS[0], WORKLOADS[2], agent))
    result = allowed(fleet)
    assert result[("web-1", "agent")] == ["tcp/9100"]
    assert ("web-2", "agent") not in result  # 10.2.0.1 is outside 10.1.0.0/24


def test_a_native_nft_host_is_evaluated_too() -> None:
    db = workload("db-9", "n9", "10.9.0.2", "db")
    ruleset = {"nftables": [
        {"table": {"family": "inet", "name": "seg", "handle": 1}},
        {"set": {"family": "inet", "table": "seg", "name": "web", "handle": 2,
                 "type": "ipv4_addr", "elem": ["10.1.0.1"]}},
        {"chain": {"family": "inet", "table": "seg", "name": "fwd", "handle": 3,
                   "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "seg", "chain": "fwd", "handle": 4, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": "@web"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                       "right": 5432}},
            {"accept": None}]}},
    ]}
    fleet = Fleet({"n1": load_host_state("n1", {}, None), "n2": load_host_state("n2", {}, None),
                   "n9": load_host_state("n9", {"nft.json": json.dumps(ruleset)}, None)},
                  (WORKLOADS[0], WORKLOADS[2], db))
    result = allowed(fleet)
    assert result[("web-1", "db-9")] == ["tcp/5432"]
    assert ("web-2", "db-9") not in result
    evidence = compute_graph(fleet).pairs[("web-1", "db-9")].evidence()
    assert [(e.host, e.handle) for e, _ in evidence] == [("n9", 4)]


def test_an_unknown_match_counts_as_allowed_and_says_what_it_depends_on() -> None:
    web_1, db_2 = WORKLOADS[0], WORKLOADS[3]

    def edit(host: str, dumps: dict[str, str]) -> dict[str, str]:
        if host != "n2":
            return dumps
        chain = next(line.split()[0][1:] for line in dumps["iptables-save"].splitlines()
                     if line.startswith(":seg-in-") and db_2.interface in line)
        rule = f"-A {chain} -s 10.1.0.1/32 -p tcp -m tcp --dport 22 -m recent --rcheck -j ACCEPT"
        text = dumps["iptables-save"].replace(f"-A {chain} -j NFLOG",
                                              f"{rule}\n-A {chain} -j NFLOG")
        return {**dumps, "iptables-save": text}

    graph = compute_graph(build(POLICY, WORKLOADS, edit=edit))
    pair = graph.pairs[(web_1.name, db_2.name)]
    assert pair.allowed.texts() == ["tcp/22", "tcp/5432"]
    notes = [e.note for e, ports in pair.evidence()
             if ports.contains("tcp", 22) and e.host == "n2"]
    assert notes and "depends on" in notes[0] and "recent" in notes[0]


def test_a_verdict_that_differs_by_source_port_counts_as_allowed_and_says_so() -> None:
    db_2 = WORKLOADS[3]

    def edit(host: str, dumps: dict[str, str]) -> dict[str, str]:
        if host != "n2":
            return dumps
        rule = (f"-A FORWARD -o {db_2.interface} -p tcp -m tcp --sport 40000:60999 "
                "--dport 7000 -j ACCEPT")
        text = dumps["iptables-save"].replace(
            "-A FORWARD -m conntrack", f"{rule}\n-A FORWARD -m conntrack", 1)
        return {**dumps, "iptables-save": text}

    pair = compute_graph(build(POLICY, WORKLOADS, edit=edit)).pairs[("web-1", "db-2")]
    assert pair.allowed.contains("tcp", 7000)
    notes = {e.note for e, ports in pair.evidence()
             if ports.contains("tcp", 7000) and e.host == "n2"}
    assert notes == {"depends on source port"}


def test_it_evaluates_classes_of_sources_not_every_source() -> None:
    many = tuple(workload(f"web-{i}", "n3", f"10.3.0.{i}", "web") for i in range(1, 41))
    fleet = build(POLICY, (*WORKLOADS, *many))
    graph = compute_graph(fleet)
    assert all(graph.pairs[(w.name, "db-2")].allowed.texts() == ["tcp/5432"] for w in many)
    assert graph.evaluations < len(fleet.workloads) * 3


def test_a_new_snapshot_recomputes_only_its_hosts_pairs_and_agrees_with_a_full_run() -> None:
    graph = compute_graph(build(POLICY, WORKLOADS))
    changed = intent([("web", "db", ["tcp/5432", "tcp/5433"])])
    after = build(changed, WORKLOADS)
    touched = graph.update_host(after.hosts["n2"])
    mixed = build(POLICY, WORKLOADS)
    mixed.hosts["n2"] = after.hosts["n2"]
    assert {k: p.allowed for k, p in graph.pairs.items()} == {
        k: p.allowed for k, p in compute_graph(mixed).pairs.items()}
    on_n2 = {"web-2", "db-2", "cache-1"}
    assert touched and all(src in on_n2 or dst in on_n2 for src, dst in touched)
    assert graph.pairs[("web-1", "db-2")].allowed.texts() == ["tcp/5432-5433"]
    assert ("web-1", "cache-1") not in graph.pairs


WEB_1_OUT = f"-A FORWARD -i {WORKLOADS[0].interface} -j ACCEPT"


def _n1_edited(old: str, new: str) -> Fleet:
    """The fleet with one line of host n1's iptables-save replaced."""
    def edit(host: str, dumps: dict[str, str]) -> dict[str, str]:
        if host != "n1":
            return dumps
        return {**dumps, "iptables-save": dumps["iptables-save"].replace(old, new, 1)}

    return build(POLICY, WORKLOADS, edit=edit)


@pytest.mark.parametrize("new, answer", [
    # the source host's egress now denies a port: its pairs toward other hosts lose it
    (f"-A FORWARD -i {WORKLOADS[0].interface} -p udp -j DROP\n{WEB_1_OUT}", ["tcp/6379"]),
    # the same rules with new counters: only the evidence moves
    (f"[7:420] {WEB_1_OUT}", ["tcp/6379", "udp/53"]),
], ids=["egress-changed", "evidence-only"])
def test_a_source_hosts_new_snapshot_agrees_with_a_full_run(new: str, answer: list[str]) -> None:
    graph = compute_graph(build(POLICY, WORKLOADS))
    before = graph.pairs[("web-1", "cache-1")]
    edited = _n1_edited(WEB_1_OUT, new)
    touched = graph.update_host(edited.hosts["n1"])
    full = compute_graph(edited)
    assert {k: p.allowed for k, p in graph.pairs.items()} == {
        k: p.allowed for k, p in full.pairs.items()}
    assert graph.pairs[("web-1", "cache-1")].allowed.texts() == answer
    assert ("web-1", "cache-1") in touched

    def seen(pair: PairVerdict) -> list[tuple[str, str, int | None, int | None]]:
        return [(e.host, e.chain, e.rule_number, e.packets) for e, _ in pair.evidence()]

    # The source host's evidence follows the new snapshot (rule numbers, counters).
    assert seen(graph.pairs[("web-1", "cache-1")]) == seen(full.pairs[("web-1", "cache-1")])
    assert seen(graph.pairs[("web-1", "cache-1")]) != seen(before)


def test_segment_edges_count_pairs_per_port_and_say_full_or_partial() -> None:
    web_1 = WORKLOADS[0]

    def edit(host: str, dumps: dict[str, str]) -> dict[str, str]:
        if host != "n1":
            return dumps
        text = dumps["iptables-save"].replace(
            "-A FORWARD -m conntrack",
            f"-A FORWARD -i {web_1.interface} -p udp -j DROP\n-A FORWARD -m conntrack", 1)
        return {**dumps, "iptables-save": text}

    graph = compute_graph(build(POLICY, WORKLOADS, edit=edit))
    edges = {(e["src"], e["dst"]): e for e in segment_edges(graph, POLICY.segments)}
    assert edges[("web", "db")]["pairs"] == 4
    assert edges[("web", "db")]["pairs_allowed"] == {"tcp/5432": 4}
    assert edges[("web", "db")]["status"] == "full"
    cache = edges[("web", "cache")]
    assert cache["pairs"] == 2
    assert cache["pairs_allowed"] == {"tcp/6379": 2, "udp/53": 1}
    assert cache["status"] == "partial"
    assert cache["allowed"] == ["tcp/6379", "udp/53"]


def test_workload_edges_have_the_contract_keys() -> None:
    edges = workload_edges(compute_graph(build(POLICY, WORKLOADS)))
    assert [(e["src"], e["dst"]) for e in edges] == sorted(EXPECTED)
    first = edges[0]
    assert set(first) == {"src", "dst", "allowed", "evidence"}
    assert {"host", "hook", "table", "chain", "rule_number", "line", "verdict",
            "ports"} <= set(first["evidence"][0])


def test_a_membership_change_reuses_every_answer_it_can_and_agrees_with_a_full_run() -> None:
    fleet = build(POLICY, WORKLOADS)
    graph = compute_graph(fleet)
    evaluated = graph.evaluations
    web_3 = workload("web-3", "n2", "10.2.0.9", "web")  # a new web on n2; db-1 stopped
    after = tuple(w for w in WORKLOADS if w.name != "db-1") + (web_3,)
    # The control plane's rules are not updated yet: n2's web set lacks 10.2.0.9.

    graph.update_membership(after)

    fresh = compute_graph(Fleet(dict(fleet.hosts), after))
    assert {k: p.allowed for k, p in graph.pairs.items()} == {
        k: p.allowed for k, p in fresh.pairs.items()}
    assert ("web-3", "db-2") not in graph.pairs  # n2's web set does not hold it yet
    assert not any("db-1" in key for key in graph.pairs)
    assert graph.evaluations - evaluated < fresh.evaluations


OUTSIDE_RULE = "-A FORWARD -s 203.0.113.7/32 -p tcp -m tcp --dport 9999 -j ACCEPT"
DBS = tuple(workload(f"db-{i}", f"n{i}", f"10.{i}.0.2", "db") for i in range(1, 4))
WEBS = tuple(workload(f"web-{i}", f"n{i}", f"10.{i}.0.1", "web") for i in range(1, 4))


def _with_outside_rule(host: str, dumps: dict[str, str]) -> dict[str, str]:
    """n1 with a rule for an address no workload has, first in FORWARD."""
    if host != "n1":
        return dumps
    text = dumps["iptables-save"].replace("-A FORWARD -m conntrack",
                                          f"{OUTSIDE_RULE}\n-A FORWARD -m conntrack", 1)
    return {**dumps, "iptables-save": text}


def test_a_rule_for_an_address_no_workload_has_leaves_its_hosts_answers_shared() -> None:
    workloads = (*DBS, *WEBS)
    graph = compute_graph(build(POLICY, workloads))
    evaluated = graph.evaluations
    edited = build(POLICY, workloads, edit=_with_outside_rule)

    graph.update_host(edited.hosts["n1"])

    full = compute_graph(edited)
    assert {k: p.allowed for k, p in graph.pairs.items()} == {
        k: p.allowed for k, p in full.pairs.items()}
    # db-1's ingress takes db-2's evaluation, with n1's own lines (one more in front).
    assert graph.evaluations == evaluated

    def places(graph: EffectiveGraph) -> set[tuple[str, int | None, int | None]]:
        return {(e.chain, e.rule_number, e.line)
                for e, _ in graph.pairs[("web-2", "db-1")].evidence() if e.host == "n1"}

    assert places(graph) == places(full)
    assert places(graph) != places(compute_graph(build(POLICY, workloads)))


def test_the_rule_counts_once_a_workload_has_its_address() -> None:
    fleet = build(POLICY, (*DBS, *WEBS), edit=_with_outside_rule)
    graph = compute_graph(fleet)
    assert ("probe", "db-1") not in graph.pairs
    after = (*DBS, *WEBS, workload("probe", "n4", "203.0.113.7", "probe"))

    graph.update_membership(after)

    fresh = compute_graph(Fleet(dict(fleet.hosts), after))
    assert {k: p.allowed for k, p in graph.pairs.items()} == {
        k: p.allowed for k, p in fresh.pairs.items()}
    # n1's rule lets the probe (on a host with no rules known) in on 9999.
    assert graph.pairs[("probe", "db-1")].allowed.contains("tcp", 9999)
