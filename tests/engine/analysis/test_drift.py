"""Drift on a hand-built fleet with one planted finding of every kind."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine.analysis.fleets import T0, build, intent, rendered, workload
from webapp.engine.analysis.drift import DriftContext, Finding, compute_drift
from webapp.engine.analysis.graph import compute_graph
from webapp.engine.analysis.intended import intended_pairs
from webapp.engine.analysis.managed import control_plane_rules

POLICY = intent([("web", "db", ["tcp/5432"]), ("web", "cache", ["tcp/6379"])])
WEB_1 = workload("web-1", "n1", "10.1.0.1", "web")
DB_1 = workload("db-1", "n1", "10.1.0.2", "db")
WEB_2 = workload("web-2", "n2", "10.2.0.1", "web")
DB_2 = workload("db-2", "n2", "10.2.0.2", "db")
CACHE_1 = workload("cache-1", "n2", "10.2.0.3", "cache")
LIVE = (WEB_1, DB_1, WEB_2, DB_2, CACHE_1)
# Gone before the fleet's time: one address now unused, one now owned by cache-1.
GONE = workload("web-0", "n1", "10.1.0.50", "web", stopped_at=T0 - timedelta(hours=1))
REUSED = workload("web-9", "n2", "10.2.0.3", "web", stopped_at=T0 - timedelta(hours=1))


def chain_of(dumps: dict[str, str], interface: str) -> str:
    return f"seg-in-{interface}"


def plant(host: str, dumps: dict[str, str]) -> dict[str, str]:
    text, sets = dumps["iptables-save"], dumps["ipset-save"]
    if host == "n1":
        # foreign: an admin's rule ahead of the control plane's; stale: a gone peer's rule;
        # reused: the web set still holds an address that now belongs to cache-1.
        text = text.replace("-A FORWARD -m conntrack",
                            "-A FORWARD -p tcp -m tcp --dport 2222 -j ACCEPT\n"
                            "-A FORWARD -m conntrack", 1)
        chain = chain_of(dumps, DB_1.interface)
        text = text.replace(f"-A {chain} -j NFLOG",
                            f"-A {chain} -s 10.1.0.50/32 -p tcp -m tcp --dport 5432 -j ACCEPT\n"
                            f"-A {chain} -j NFLOG", 1)
        sets += "add seg-web 10.2.0.3\n"
    if host == "n2":
        # missing: n2 never got the web -> cache allow (rendered from an older intent);
        # excess and unused: an extra accept that never matched; shadowed: a duplicate allow;
        # stale: a set member nobody owns.
        older = intent([("web", "db", ["tcp/5432"])], POLICY.segments)
        text = rendered("n2", older, LIVE)["iptables-save"]
        chain = chain_of(dumps, DB_2.interface)
        allow = next(line for line in text.splitlines() if line.startswith(f"-A {chain} -p tcp"))
        text = text.replace(f"-A {chain} -j NFLOG",
                            f"{allow}\n[0:0] -A {chain} -p tcp -m tcp --dport 22 -j ACCEPT\n"
                            f"-A {chain} -j NFLOG", 1)
        sets += "add seg-web 10.2.0.99\n"
    return {"iptables-save": text, "ipset-save": sets}


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    fleet = build(POLICY, LIVE, edit=plant)
    graph = compute_graph(fleet)
    context = DriftContext(POLICY.segments, intended_pairs(POLICY, LIVE),
                           intent_since=T0, former_workloads=(GONE, REUSED),
                           host_since=lambda host: T0 + timedelta(minutes=5),
                           managed_rules=control_plane_rules(POLICY, fleet))
    return compute_drift(graph, context)


def of_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def test_it_finds_the_pairs_the_straggling_host_still_blocks(findings: list[Finding]) -> None:
    missing = of_kind(findings, "missing")
    assert {f.workloads for f in missing} == {("web-1", "cache-1"), ("web-2", "cache-1")}
    assert {f.host for f in missing} == {"n2"}
    assert all(f.ports == ("tcp/6379",) and f.src_segment == "web"
               and f.dst_segment == "cache" and f.rule is not None for f in missing)
    assert all(f.since == T0 + timedelta(minutes=5) for f in missing)


def test_it_finds_what_is_allowed_but_not_intended(findings: list[Finding]) -> None:
    excess = {(f.host, f.workloads, f.ports) for f in of_kind(findings, "excess")}
    assert ("n2", ("web-1", "db-2"), ("tcp/22",)) in excess
    assert ("n2", ("cache-1", "db-2"), ("tcp/22",)) in excess
    assert ("n1", ("db-2", "db-1"), ("tcp/2222",)) in excess
    assert not any(f.workloads == ("web-1", "db-2") and "tcp/5432" in f.ports
                   for f in of_kind(findings, "excess"))


def test_it_finds_stale_addresses_and_a_reused_one(findings: list[Finding]) -> None:
    stale = {(f.host, f.set, f.address, f.rule is not None): f for f in of_kind(findings, "stale")}
    assert ("n2", "seg-web", "10.2.0.99", False) in stale
    gone = stale[("n1", None, "10.1.0.50", True)]
    assert gone.workloads == ("web-0",) and gone.rule["chain"] == f"seg-in-{DB_1.interface}"
    reused = stale[("n1", "seg-web", "10.2.0.3", False)]
    assert reused.workloads == ("web-9", "cache-1")
    assert reused.src_segment == "web" and reused.dst_segment == "cache"
    assert "reused" in (reused.note or "")
    assert not any(f.address in ("10.1.0.1", "10.2.0.1") for f in of_kind(findings, "stale"))


def test_it_finds_the_duplicate_rule_shadowed(findings: list[Finding]) -> None:
    shadowed = of_kind(findings, "shadowed")
    assert [(f.host, f.rule["chain"], f.rule["rule_number"]) for f in shadowed] == [
        ("n2", f"seg-in-{DB_2.interface}", 2)]


def test_it_finds_the_accept_rule_whose_counters_never_moved(findings: list[Finding]) -> None:
    unused = of_kind(findings, "unused")
    assert [(f.host, f.rule["chain"], f.rule["rule_number"]) for f in unused] == [
        ("n2", f"seg-in-{DB_2.interface}", 3)]


def test_it_finds_the_rule_outside_the_managed_chains(findings: list[Finding]) -> None:
    foreign = of_kind(findings, "foreign")
    assert [(f.host, f.rule["chain"], f.rule["rule_number"]) for f in foreign] == [
        ("n1", "FORWARD", 1)]
    assert "--dport 2222" in (foreign[0].note or "")


def test_every_finding_has_the_contract_keys(findings: list[Finding]) -> None:
    keys = {"kind", "host", "rule", "set", "address", "src_segment", "dst_segment",
            "workloads", "ports", "since"}
    assert all(keys <= set(f.to_dict()) for f in findings)
    assert [f.sort_key() for f in findings] == sorted(f.sort_key() for f in findings)


def counted(host: str, dumps: dict[str, str]) -> dict[str, str]:
    """Counters on db-2's allow rule: five packets so far."""
    if host != "n2":
        return dumps
    chain = chain_of(dumps, DB_2.interface)
    text = dumps["iptables-save"].replace(f"-A {chain} -p tcp", f"[5:300] -A {chain} -p tcp", 1)
    return {**dumps, "iptables-save": text}


@pytest.mark.parametrize(("packets_then", "unused"), [(5, True), (3, False)])
def test_an_allow_whose_counters_stand_still_while_flows_pass_is_unused(
        packets_then: int, unused: bool) -> None:
    fleet = build(POLICY, LIVE, edit=counted)
    context = DriftContext(POLICY.segments, intended_pairs(POLICY, LIVE),
                           managed_rules=control_plane_rules(POLICY, fleet),
                           counters_then=lambda host, rule: packets_then,
                           window_start=lambda host: T0 - timedelta(hours=1),
                           observed=[("web-1", "db-2", "tcp", 5432),
                                     ("web-2", "db-2", "tcp", 5432)])
    findings = [f for f in compute_drift(compute_graph(fleet), context) if f.kind == "unused"]
    chain = f"seg-in-{DB_2.interface}"
    hits = [f for f in findings if f.rule and f.rule["chain"] == chain]
    assert bool(hits) is unused
    if unused:
        assert hits[0].since == T0 - timedelta(hours=1)
        assert "2 connection(s)" in (hits[0].note or "")
