"""The seed-scale fleet renders each host as the control plane would from the whole intent."""

from __future__ import annotations

import pytest

from bench.seed import SeedScale, seed_fleet
from collectors.controlplane import render_host


@pytest.mark.parametrize("use_sets", [True, False], ids=["ipset", "per-peer"])
def test_it_renders_each_host_as_from_the_whole_intent_and_inventory(use_sets: bool) -> None:
    seed = seed_fleet(SeedScale(hosts=10, segments=30, members=8, peers=5))

    for host in seed.hosts:
        assert seed.render(host, use_sets) == render_host(host, seed.intent,
                                                          list(seed.workloads), use_sets)


def test_it_spreads_distinct_workloads_evenly_and_deterministically() -> None:
    scale = SeedScale(hosts=20, segments=20, members=5, peers=5)
    seed = seed_fleet(scale)

    assert seed_fleet(scale) == seed
    assert {len(on) for on in seed.by_host.values()} == {5}
    assert len({w.addresses for w in seed.workloads}) == 100
    assert len({w.interface for w in seed.workloads}) == 100
    assert all(w.interface and w.interface.startswith("cali") and len(w.interface) == 15
               for w in seed.workloads)
    assert len(seed.intent.allows) == 20 * 5
