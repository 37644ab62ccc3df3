"""Drift of one host (or a few): the findings of the whole fleet that name those hosts, in the
same order, computed from those hosts' workloads, rules and pairs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.seed import COLLECTED_AT, SeedScale, seed_fleet, with_port
from collectors.controlplane import render_host
from collectors.iptables import parse_iptables_save
from tests.engine.analysis.fleets import T0, build, intent, spec, workload
from tests.engine.analysis.test_drift import GONE, LIVE, POLICY, REUSED, counted, plant
from tests.engine.analysis.test_services import KUBE_PROXY, ingress
from webapp.engine.analysis import drift
from webapp.engine.analysis.drift import KINDS, DriftContext, Finding, compute_drift
from webapp.engine.analysis.fleet import Fleet, HostState, load_host_state
from webapp.engine.analysis.graph import EffectiveGraph, compute_graph
from webapp.engine.analysis.intended import intended_pairs
from webapp.engine.analysis.managed import ControlPlaneRules, control_plane_rules, rule_body
from webapp.engine.analysis.offline import BundleAnalysis

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"
SINCE = T0 + timedelta(minutes=5)


def planted() -> tuple[EffectiveGraph, DriftContext]:
    """test_drift's fleet: one planted finding of every kind on n1 and n2."""
    fleet = build(POLICY, LIVE, edit=plant, hosts=("n1", "n2", "n3"))
    return compute_graph(fleet), DriftContext(
        POLICY.segments, intended_pairs(POLICY, LIVE), intent_since=T0,
        former_workloads=(GONE, REUSED), host_since=lambda host: SINCE,
        managed_rules=ControlPlaneRules(POLICY, fleet))


def flowing() -> tuple[EffectiveGraph, DriftContext]:
    """An allow on n2 whose counters stood still while flow logs show two connections."""
    fleet = build(POLICY, LIVE, edit=counted)
    return compute_graph(fleet), DriftContext(
        POLICY.segments, intended_pairs(POLICY, LIVE),
        managed_rules=control_plane_rules(POLICY, fleet),
        counters_then=lambda host, rule: 5, window_start=lambda host: T0 - timedelta(hours=1),
        observed=iter([("web-1", "db-2", "tcp", 5432), ("web-2", "db-2", "tcp", 5432)]))


def through_a_service() -> tuple[EffectiveGraph, DriftContext]:
    """A cluster IP on n1 DNATed to web pods on n2 and n3: pairs whose evidence is a
    translation on the source's host."""
    client = workload("client-1", "n1", "10.1.0.1", "client")
    web_a = workload("web-a", "n2", "10.2.0.5", "web")
    web_b = workload("web-b", "n3", "10.3.0.6", "web")
    fleet = Fleet({
        "n1": load_host_state("n1", {"iptables-save": KUBE_PROXY}, T0),
        "n2": load_host_state("n2", {"iptables-save": ingress(web_a.interface, 8080)}, T0),
        "n3": load_host_state("n3", {"iptables-save": ingress(web_b.interface, 9999)}, T0),
    }, (client, web_a, web_b))
    policy = intent([("client", "web", ["tcp/8080"])])
    # No control plane: every deciding rule is foreign, the client's egress rule twice over
    # (as its own host's rule, and as the rule a translated connection left by).
    return compute_graph(fleet), DriftContext(policy.segments,
                                              intended_pairs(policy, fleet.workloads))


def seeded() -> tuple[EffectiveGraph, DriftContext]:
    """A small seed fleet in both styles, a quarter of its hosts on an older intent, admin
    rules on some, workloads gone and their addresses reused."""
    seed = seed_fleet(SeedScale(hosts=6, segments=8, members=3, peers=2))
    older = with_port(with_port(seed.intent, 0, 2000), 5, 2005)
    states = {}
    for number, host in enumerate(seed.hosts):
        rules = seed.render(host, number % 2 == 0, older if number % 4 == 1 else None)
        text = rules.iptables
        if number % 3 == 0:
            text = text.replace("-A FORWARD -m conntrack", "-A FORWARD -p tcp -m tcp --dport 22 "
                                "-j ACCEPT\n-A FORWARD -p tcp -m tcp --dport 22 -j ACCEPT\n"
                                "-A FORWARD -m conntrack", 1)
        states[host] = seed.host_state(host, replace(rules, iptables=text))
    workloads = seed.analysis_workloads()
    live, gone = workloads[2:], workloads[:2]
    former = tuple(replace(w, stopped_at=COLLECTED_AT - timedelta(hours=1)) for w in gone) + (
        replace(workloads[5], name="old-5", labels={"segment": "seg0007"},
                stopped_at=COLLECTED_AT - timedelta(hours=2)),)
    fleet = Fleet(states, live)
    return compute_graph(fleet), DriftContext(
        dict(seed.intent.segments), intended_pairs(seed.intent, live), former_workloads=former,
        host_since=lambda host: COLLECTED_AT, managed_rules=ControlPlaneRules(seed.intent, fleet))


FLEETS = {"planted": planted, "flowing": flowing, "service": through_a_service,
          "seeded": seeded}


def as_json(findings: list[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], sort_keys=False, default=str)


@pytest.fixture(scope="module", params=sorted(FLEETS))
def fleet(request: pytest.FixtureRequest) -> tuple[EffectiveGraph, DriftContext, list[Finding]]:
    graph, context = FLEETS[request.param]()
    return graph, context, compute_drift(graph, context)


def test_the_fleets_hold_every_kind_of_finding() -> None:
    kinds: set[str] = set()
    for make in FLEETS.values():
        kinds |= {f.kind for f in compute_drift(*make())}
    assert kinds == set(KINDS)


def test_one_hosts_drift_is_the_fleets_drift_naming_it(
        fleet: tuple[EffectiveGraph, DriftContext, list[Finding]]) -> None:
    graph, context, findings = fleet
    for host in [*graph.fleet.hosts, "elsewhere"]:
        mine = compute_drift(graph, context, hosts={host})
        assert as_json(mine) == as_json([f for f in findings if f.host == host])


@pytest.mark.parametrize("name", sorted(FLEETS))
def test_a_first_call_for_one_host_on_a_fresh_graph_finds_the_same(name: str) -> None:
    findings = compute_drift(*FLEETS[name]())
    for host in sorted({f.host for f in findings if f.host}):
        graph, context = FLEETS[name]()
        mine = compute_drift(graph, context, hosts=[host])
        assert as_json(mine) == as_json([f for f in findings if f.host == host])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_set_of_hosts_finds_the_fleets_findings_naming_them(
        fleet: tuple[EffectiveGraph, DriftContext, list[Finding]], data: st.DataObject) -> None:
    graph, context, findings = fleet
    hosts = data.draw(st.sets(st.sampled_from(sorted(graph.fleet.hosts))))
    mine = compute_drift(graph, context, hosts=hosts)
    assert as_json(mine) == as_json([f for f in findings if f.host in hosts])


def test_the_whole_fleet_after_one_hosts_calls_is_unchanged(
        fleet: tuple[EffectiveGraph, DriftContext, list[Finding]]) -> None:
    graph, context, findings = fleet
    for host in graph.fleet.hosts:
        compute_drift(graph, context, hosts={host})
    assert as_json(compute_drift(graph, context)) == as_json(findings)


def test_a_hosts_set_members_are_read_once_while_it_keeps_the_same_sets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    graph, context = planted()
    real = drift._ipset_members
    reads: list[str] = []
    monkeypatch.setattr(drift, "_ipset_members",
                        lambda ipset: reads.append(ipset.name) or real(ipset))
    first = compute_drift(graph, context, hosts={"n2"})
    assert "seg-web" in reads and any(f.address == "10.2.0.99" for f in first)
    reads.clear()

    again = compute_drift(graph, context, hosts={"n2"})

    assert reads == []
    assert as_json(again) == as_json(first)


def test_a_host_whose_sets_changed_has_its_members_judged_again() -> None:
    graph, context = planted()
    before = compute_drift(graph, context, hosts={"n2"})

    def emptied(host: str, dumps: dict[str, str]) -> dict[str, str]:
        edited = plant(host, dumps)
        if host == "n2":  # the member no workload owns leaves n2's web set
            edited["ipset-save"] = edited["ipset-save"].replace("add seg-web 10.2.0.99\n", "")
        return edited

    changed = build(POLICY, LIVE, edit=emptied, hosts=("n1", "n2", "n3"))
    graph.update_hosts([changed.hosts["n2"]])

    after = compute_drift(graph, context, hosts={"n2"})

    assert any(f.address == "10.2.0.99" for f in before)
    assert not any(f.address == "10.2.0.99" for f in after)
    fresh = compute_drift(compute_graph(changed), planted()[1], hosts={"n2"})
    assert as_json(after) == as_json(fresh)


@pytest.mark.parametrize("use_sets", [True, False])
def test_control_plane_rules_render_each_host_as_the_whole_intent_does(use_sets: bool) -> None:
    fleet = build(POLICY, LIVE, edit=plant, hosts=("n1", "n2", "n3"))
    lazy = ControlPlaneRules(POLICY, fleet)
    specs = [spec(w) for w in LIVE]
    for host in fleet.hosts:
        whole = render_host(host, POLICY, specs, use_sets=use_sets).iptables
        assert lazy[host].style(use_sets) == frozenset(
            rule_body(r) for r in parse_iptables_save(whole, "<rendered>").rules())


@pytest.mark.parametrize("use_sets", [True, False])
def test_control_plane_rules_of_a_seed_fleet_are_those_of_the_whole_intent(
        use_sets: bool) -> None:
    seed = seed_fleet(SeedScale(hosts=5, segments=9, members=4, peers=3))
    fleet = Fleet({h: HostState(h) for h in seed.hosts}, seed.analysis_workloads())
    lazy = ControlPlaneRules(seed.intent, fleet)
    for host in seed.hosts:
        whole = render_host(host, seed.intent, list(seed.workloads), use_sets=use_sets)
        assert lazy[host].style(use_sets) == frozenset(
            rule_body(r) for r in parse_iptables_save(whole.iptables, "<rendered>").rules())


def test_control_plane_rules_of_a_non_segscope_intent_are_none() -> None:
    fleet = build(POLICY, LIVE)
    assert control_plane_rules(object(), fleet) == {}
    assert ControlPlaneRules(None, fleet).get("n1", frozenset()) == frozenset()


def test_a_bundles_drift_of_one_host_is_its_part_of_the_cli_json() -> None:
    whole = BundleAnalysis(DEMO).drift_json()["findings"]
    analysis = BundleAnalysis(DEMO)
    hosts = sorted(analysis.fleet.hosts)
    assert {f["host"] for f in whole} - set(hosts) == set()
    for host in hosts:
        assert analysis.drift_json(hosts={host})["findings"] == [
            f for f in whole if f["host"] == host]
    assert analysis.drift_json(hosts=hosts[:2])["findings"] == [
        f for f in whole if f["host"] in hosts[:2]]
    assert analysis.drift_json()["findings"] == whole


def test_a_host_name_where_host_names_are_expected_fails_loudly() -> None:
    graph, context = planted()
    with pytest.raises(TypeError, match="collection of host names"):
        compute_drift(graph, context, hosts="n1")


def test_a_store_that_reads_the_connections_of_some_workloads_gives_the_same_drift() -> None:
    graph, context = flowing()
    connections = list(context.observed)
    asked: list[frozenset[str]] = []

    def touching(workloads: frozenset[str]) -> list[tuple[str, str, str, int | None]]:
        asked.append(workloads)
        return [c for c in connections if c[0] in workloads or c[1] in workloads]

    whole = compute_drift(graph, replace(context, observed=connections))
    by_store = replace(context, observed=(), observed_touching=touching)
    for host in graph.fleet.hosts:
        mine = compute_drift(graph, by_store, hosts={host})
        assert as_json(mine) == as_json([f for f in whole if f.host == host])
    assert any("counters did not move" in (f.note or "") for f in whole)
    assert asked and all(names <= {w.name for w in graph.fleet.workloads} for names in asked)
