"""`python -m bench --quick` runs end to end on PostgreSQL and reports every figure (the figures
themselves are read by people, in docs/benchmarks.md: tests never judge speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="the ingest benchmark needs PostgreSQL")
def test_the_quick_benchmark_runs_and_reports_every_figure() -> None:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/segscope_bench_smoke"
    env = dict(os.environ, BENCH_DATABASE_URL=url, LOG_LEVEL="WARNING")

    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=1500, check=False)

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout[done.stdout.index("\n{") + 1:])
    assert report["explain"]["rules"] == 5000
    assert report["parse"][-1]["rules"] > 10_000
    assert [row["input"] for row in report["nft"]][-1].startswith("generated")
    ingest = report["ingest"]
    assert (ingest["flow_records"], ingest["snapshot_hosts"]) == (40_000, 50)
    assert 0 < ingest["flow_rows"] < ingest["flow_records"]  # aggregated before writing
    for figure in ("flow_records_per_s", "flow_baseline_records_per_s",
                   "flow_records_per_s_2_workers", "flow_records_per_s_http_2_processes",
                   "snapshot_s", "snapshot_baseline_ms", "snapshot_s_2_workers"):
        assert ingest[figure] > 0, figure
    graph = {row["style"]: row for row in report["graph"]}
    assert sorted(graph) == ["ipset", "per-peer"]
    for row in graph.values():
        assert (row["hosts"], row["workloads"]) == (20, 100)
        assert row["pairs"] == 20 * 5 * 5 * 5  # 100 allows, each of 5 x 5 workloads
        assert row["disagreements"] == 0  # the graph says what packet by packet says
        for figure in ("load_compile_s", "graph_s", "evaluations", "peak_rss_mib",
                       "update_ms_median", "load_and_update_ms_median",
                       "update_touched_pairs_median", "baseline_us_per_triple", "baseline_s",
                       "ratio"):
            assert row[figure] > 0, (row["style"], figure)
    assert graph["ipset"]["set_members"] > 0
    assert graph["per-peer"]["set_members"] == 0
    assert graph["per-peer"]["rules"] > graph["ipset"]["rules"]
    dashboard = report["dashboard"]
    page = dashboard["graph"]
    assert (page["segments"], page["pairs"]) == (1200, 1200 * 3 * 2 * 2)
    assert page["grouped"] and page["nodes_drawn"] <= 1000
    assert 0 < page["gzip_bytes"] < page["json_bytes"]
    assert page["worker_build_s"] > 0 and page["first_request_s"] > 0
    live = dashboard["live"]
    if live:  # with REDIS_URL: the worker, Channels and chromium
        assert live["rounds"] == 3 and live["socket_openings"] == 1
        assert 0 < live["event_ms"]["p50"] <= live["update_ms"]["p50"]
    partition = report["partition"]
    assert (partition["hosts"], partition["workloads"]) == (10, 200)
    assert partition["first_analysis"]["hosts"] == 10
    assert [c["status"] for c in partition["changes"]] == ["stored"] * 3
    assert partition["change_median_s"] > 0
    assert partition["batch"]["stored"] == partition["batch_again"]["stored"] == 10
