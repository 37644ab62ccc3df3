"""`segscope graph|drift|convergence|cost` on the demo bundle: the JSON other tools read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webapp.cli import main

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_graph_prints_every_allowed_pair_with_its_evidence(
        capsys: pytest.CaptureFixture[str]) -> None:
    edges = run(capsys, "graph", str(DEMO), "--json")["edges"]
    # 18 pairs of v1, web to node-01's and node-02's cache of v2, and node-02's drift: a
    # foreign scrape rule, payments to its cache, its cache through a reused web address.
    assert len(edges) == 29
    assert [(e["src"], e["dst"]) for e in edges] == sorted((e["src"], e["dst"]) for e in edges)
    by_pair = {(e["src"], e["dst"]): e for e in edges}
    remote = by_pair[("web-889a", "payments-251d")]
    assert remote["allowed"] == ["tcp/8080"]
    assert [(x["host"], x["verdict"]) for x in remote["evidence"]] == [
        ("node-01", "ACCEPT"), ("node-03", "ACCEPT")]
    assert ("web-889a", "cache-db77") not in by_pair  # node-03 never got v2


def test_graph_at_segment_level_counts_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    edges = {(e["src"], e["dst"]): e for e in
             run(capsys, "graph", str(DEMO), "--json", "--level", "segment")["edges"]}
    assert edges[("web", "cache")]["pairs"] == 9
    assert edges[("web", "cache")]["pairs_allowed"] == {"tcp/6379": 6}
    assert edges[("web", "cache")]["status"] == "partial"
    assert edges[("payments", "ledger")]["status"] == "full"


def test_graph_at_a_time_before_v2_reached_any_host(capsys: pytest.CaptureFixture[str]) -> None:
    edges = run(capsys, "graph", str(DEMO), "--json", "--at", "2026-11-26T04:59:34Z")["edges"]
    assert not any(e["dst"].startswith("cache") for e in edges)
    assert len(edges) == 18


def test_drift_names_the_straggler_and_its_dropping_rule(
        capsys: pytest.CaptureFixture[str]) -> None:
    findings = run(capsys, "drift", str(DEMO), "--json")["findings"]
    missing = [f for f in findings if f["kind"] == "missing"]
    assert {tuple(f["workloads"]) for f in missing} == {
        ("web-889a", "cache-db77"), ("web-dd88", "cache-db77"), ("web-feae", "cache-db77")}
    assert {f["host"] for f in missing} == {"node-03"}
    assert missing[0]["rule"]["chain"] == "seg-in-califc1d8994"
    assert missing[0]["since"] == "2026-11-26T04:59:33Z"
    assert set(missing[0]) >= {"kind", "host", "rule", "set", "address", "src_segment",
                               "dst_segment", "workloads", "ports", "since"}


def test_drift_of_the_demo_has_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    findings = run(capsys, "drift", str(DEMO), "--json")["findings"]
    assert {f["kind"] for f in findings} == {"missing", "excess", "stale", "shadowed",
                                             "unused", "foreign"}
    notes = {f["note"] for f in findings if f["kind"] == "stale"}
    assert notes == {"no live workload owns this address",
                     "address reused: named for web-3c1a (web), now owned by cache-92cc "
                     "(cache)"}


def test_convergence_reports_each_generation(capsys: pytest.CaptureFixture[str]) -> None:
    generations = run(capsys, "convergence", str(DEMO), "--json")["generations"]
    assert [(g["generation"], g["cause"], g["intent"]) for g in generations] == [
        (1, "intent v1", "v1"), (2, "intent v2", "v2")]
    second = generations[1]
    assert second["opened_at"] == "2026-11-26T04:59:33Z"
    assert second["hosts"] == [
        {"host": "node-01", "converged_at": "2026-11-26T04:59:37Z", "seconds": 4.0},
        {"host": "node-02", "converged_at": "2026-11-26T04:59:37Z", "seconds": 4.0},
        {"host": "node-03", "converged_at": None, "seconds": None}]
    assert (second["p50"], second["p95"], second["max"]) == (4.0, 4.0, 4.0)
    assert second["stragglers"] == ["node-03"]
    # The straggler dropped what v2 allows while it had not converged (its ulogd2 log).
    assert [(d["host"], d["workloads"], d["proto"], d["dport"]) for d in
            second["drops_while_converging"]] == [
        ("node-03", ["web-889a", "cache-db77"], "tcp", 6379)]
    assert generations[0]["drops_while_converging"] == []


def test_cost_reports_each_snapshot_and_the_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    cost = run(capsys, "cost", str(DEMO), "--json")
    newest = [h for h in cost["hosts"] if h["host"] == "node-01"][-1]
    assert (newest["rules"], newest["set_members"], newest["flat_rules"]) == (20, 6, 26)
    assert cost["fleet"][-1]["rules"] == 62
    assert cost["activation"]["changes"] > 0


def test_a_bundle_that_is_not_one_is_refused_with_its_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hosts" / "node-01" / "yesterday").mkdir(parents=True)
    assert main(["graph", str(tmp_path), "--json"]) == 2
    error = capsys.readouterr().err
    assert "hosts/node-01/yesterday" in error and "UTC time" in error
