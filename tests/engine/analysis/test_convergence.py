"""Convergence on a recorded roll-out: per-host delays, a straggler, a workload started and one
stopped, with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.engine.analysis.fleets import T0, intent, rendered, workload
from webapp.engine.analysis.convergence import (
    GenerationReport,
    History,
    compute_convergence,
    percentile,
)
from webapp.engine.analysis.fleet import HostState, Workload, load_host_state

V1 = intent([("web", "db", ["tcp/5432"])], {"web": {"app": "web"}, "db": {"app": "db"},
                                            "cache": {"app": "cache"}}, "v1")
V2 = intent([("web", "db", ["tcp/5432"]), ("web", "cache", ["tcp/6379"])], V1.segments, "v2")


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


WEB_2 = workload("web-2", "n2", "10.2.0.1", "web", stopped_at=minutes(30))
DB_3 = workload("db-3", "n3", "10.3.0.2", "db", started_at=minutes(20))
WORKLOADS: tuple[Workload, ...] = (
    workload("web-1", "n1", "10.1.0.1", "web"), workload("db-1", "n1", "10.1.0.2", "db"),
    WEB_2, workload("db-2", "n2", "10.2.0.2", "db"), workload("cache-1", "n2", "10.2.0.3", "cache"),
    workload("cache-3", "n3", "10.3.0.3", "cache"), DB_3)

# host -> (minute, intent the host's control-plane agent rendered)
STORY = {
    "n1": [(1, V1), (11, V2), (31, V2)],
    "n2": [(1, V1), (12, V1), (13, V2)],
    "n3": [(1, V1), (15, V1), (21, V1), (32, V1)],
}


def state(host: str, minute: float, policy: object) -> HostState:
    at = minutes(minute)
    live = [w for w in WORKLOADS if w.live_at(at)]
    return load_host_state(host, rendered(host, policy, live), at, (),  # type: ignore[arg-type]
                           [w for w in live if w.host == host])


@pytest.fixture(scope="module")
def reports() -> list[GenerationReport]:
    states = {host: [state(host, m, p) for m, p in story] for host, story in STORY.items()}
    history = History([("v1", T0, V1), ("v2", minutes(10), V2)], WORKLOADS, sorted(STORY),
                      lambda host: [s.collected_at for s in states[host]],  # type: ignore[misc]
                      lambda host, i: states[host][i])
    return compute_convergence(history)


def hosts(report: GenerationReport) -> dict[str, float | None]:
    return {h.host: h.seconds for h in report.hosts}


def test_the_first_intent_judges_every_pair_and_every_host_converges(
        reports: list[GenerationReport]) -> None:
    first = reports[0]
    assert (first.generation, first.cause, first.intent) == (1, "intent v1", "v1")
    assert hosts(first) == {"n1": 60.0, "n2": 60.0, "n3": 60.0}
    assert first.stragglers == []


def test_a_policy_change_converges_host_by_host_with_a_straggler(
        reports: list[GenerationReport]) -> None:
    second = reports[1]
    assert (second.cause, second.opened_at) == ("intent v2", minutes(10))
    # n1 only sends toward cache (its egress already allowed it): nothing to change there.
    assert hosts(second) == {"n2": 180.0, "n3": None}
    assert second.stragglers == ["n3"]
    data = second.to_dict()
    assert (data["p50"], data["p95"], data["max"]) == (180.0, 180.0, 180.0)
    assert data["hosts"][0] == {"host": "n2", "converged_at": "2026-11-26T03:13:00Z",
                                "seconds": 180.0}


def test_a_started_workload_is_judged_at_its_own_host(reports: list[GenerationReport]) -> None:
    third = reports[2]
    assert third.cause == "started db-3"
    # n3 still runs v1, but v1 already lets web reach db: db-3's interface is as intended.
    assert hosts(third) == {"n3": 60.0}


def test_a_stopped_workload_must_leave_the_sets_that_name_it(
        reports: list[GenerationReport]) -> None:
    fourth = reports[3]
    assert fourth.cause == "stopped web-2"
    # n2 sent nothing since: it may still let web-2's address in, wherever it goes next.
    assert hosts(fourth) == {"n1": 60.0, "n2": None, "n3": 120.0}
    assert fourth.stragglers == ["n2"]


def test_percentiles_are_nearest_rank() -> None:
    values = [5.0, 10.0, 20.0, 40.0]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 40.0
    assert percentile([], 50) is None
