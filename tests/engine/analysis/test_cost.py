"""The cost of segmentation on the seed's example: 20 containers of A talking to 20 of B, one
container per host on 40 hosts, is 400 per-peer rules; ipsets hold the same 400 peers as set
members behind 20 rules."""

from __future__ import annotations

import pytest

from tests.engine.analysis.fleets import build, intent, workload
from webapp.engine.analysis.cost import host_cost, rule_counts
from webapp.engine.analysis.fleet import Fleet

POLICY = intent([("a", "b", ["tcp/5432"])])
WORKLOADS = tuple(
    [workload(f"a-{i}", f"h{i:02d}", f"10.0.{i}.1", "a") for i in range(20)]
    + [workload(f"b-{i}", f"h{20 + i:02d}", f"10.0.{20 + i}.1", "b") for i in range(20)])


def totals(fleet: Fleet) -> tuple[int, int, int]:
    counts = [rule_counts(state.rules) for state in fleet.hosts.values() if state.rules]
    return tuple(sum(c[i] for c in counts) for i in range(3))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def per_peer() -> Fleet:
    return build(POLICY, WORKLOADS, use_sets=False)


@pytest.fixture(scope="module")
def with_sets() -> Fleet:
    return build(POLICY, WORKLOADS, use_sets=True)


def test_per_peer_rules_grow_with_the_product_of_the_groups(per_peer: Fleet,
                                                            with_sets: Fleet) -> None:
    peer_rules, peer_members, peer_flat = totals(per_peer)
    set_rules, set_members, set_flat = totals(with_sets)
    assert peer_rules - set_rules == 400 - 20  # one rule per (A, B) pair against one per B
    assert (peer_members, set_members) == (0, 400)  # 20 members on each of B's 20 hosts


def test_the_flat_acl_equivalent_of_the_sets_is_the_per_peer_table(per_peer: Fleet,
                                                                  with_sets: Fleet) -> None:
    assert totals(with_sets)[2] == totals(per_peer)[0] == totals(per_peer)[2]


def test_rules_traversed_grow_with_the_per_peer_table(per_peer: Fleet, with_sets: Fleet) -> None:
    peer = host_cost(per_peer.hosts["h20"], per_peer)
    sets = host_cost(with_sets.hosts["h20"], with_sets)
    # The worst case is a dropped source: conntrack and the jump in FORWARD, then every rule
    # of the workload's chain (allows, NFLOG, DROP): 2 + 3 with one set, 2 + 22 per peer.
    assert (sets.traversed_max, peer.traversed_max) == (5, 24)
