"""Convergence over a churning history: the JSON contract as recorded before convergence was
made incremental, and reports known to be closed taken as they are."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.engine.analysis.fleets import T0, intent, workload
from tests.engine.analysis.histories import churn_history
from webapp.engine.analysis.convergence import (
    GenerationReport,
    History,
    compute_convergence,
    reports_to_dict,
)
from webapp.engine.analysis.fleet import HostState

RECORDED = Path(__file__).parent / "recorded" / "convergence_churn.json"


@pytest.fixture(scope="module")
def history() -> History:
    return churn_history(6, events=10)


@pytest.fixture(scope="module")
def reports(history: History) -> list[GenerationReport]:
    return compute_convergence(history)


def test_it_prints_what_was_recorded_for_a_churning_fleet(
        reports: list[GenerationReport]) -> None:
    # Recorded with the engine as it was before it was made fast: byte for byte the same.
    assert json.dumps(reports_to_dict(reports), indent=1, sort_keys=True) == \
        RECORDED.read_text()


def test_the_churn_has_starts_stops_an_intent_change_and_a_straggler(
        reports: list[GenerationReport]) -> None:
    causes = [r.cause.split(" ")[0] for r in reports]
    assert {"intent", "started", "stopped"} <= set(causes) and causes.count("intent") == 2
    assert reports[0].stragglers == [] and reports[-1].stragglers == ["node-0003"]


def test_it_takes_known_reports_as_they_are_and_computes_the_others(
        history: History, reports: list[GenerationReport]) -> None:
    closed = {r.generation: replace(r, cause="as stored") for r in reports if not r.stragglers}

    again = compute_convergence(history, known=closed)

    assert [r.generation for r in again] == [r.generation for r in reports]
    assert all(again[n - 1] is report for n, report in closed.items())
    assert [r for r in again if r.generation not in closed] == [
        r for r in reports if r.generation not in closed]


def test_a_history_cut_earlier_agrees_on_what_had_closed_by_then(
        reports: list[GenerationReport]) -> None:
    earlier = compute_convergence(churn_history(6, events=10, upto=55))

    closed = [r for r in earlier if not r.stragglers]
    assert closed and [reports[r.generation - 1] for r in closed] == closed


def test_a_first_generation_of_one_workload_lists_no_host() -> None:
    web = workload("web-1", "n1", "10.1.0.1", "web")
    lone = History([("v1", T0, intent([("web", "db", ["tcp/5432"])]))], (web,), ["n1", "n2"],
                   lambda host: [], lambda host, position: HostState(host))

    assert [r.hosts for r in compute_convergence(lone)] == [()]
