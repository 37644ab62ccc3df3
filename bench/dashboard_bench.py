"""The dashboard's two figures of DESIGN.md section 7.

- `graph`: the segment graph page's data at seed scale. The seed fleet's stored analysis (2
  million workload pairs with their evidence, `bench/graph_rows.py`) is written into a
  database of its own; then `/data/segment-graph/` is asked through Django's test client,
  cold (nothing counted or laid out yet), after a web process restart (layout and
  partition counts in the cache), as a deployment serves it (the worker's build after an
  analysis, then a web process's first request), warm, and after one host's partition
  changed, and the page itself. Size of the JSON, as sent and gzipped, and nodes drawn.
- `live`: a snapshot POST to the browser update, with the deployment's processes: uvicorn
  (ASGI, websockets), a Celery worker, Redis (broker and channel layer) and PostgreSQL, the
  demo bundle analysed, and Debian's chromium on the segment graph page. The page stamps with
  `Date.now()` the live event of the host's analysis and the end of the redraw it causes
  (REST fetch and `Plotly.react`); each is compared with the clock reading taken just before
  the POST (one machine, one clock).

Each part runs in a fresh process with its own database: `python -m bench.dashboard_bench
[--quick] [--part graph|live] [--json]`."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.database import fresh_database, sibling_url
from bench.seed import SEED, SeedScale, seed_fleet

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK_GRAPH = SeedScale(hosts=20, segments=1200, members=2, peers=3)
MIB = 1024 * 1024
DEMO = REPO_ROOT / "fixtures" / "demo"
PAGE_WAIT_MS = 60_000


def _client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def _get(client: Any, url: str, **headers: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = client.get(url, **headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    return elapsed, response.content


def _forget_counts() -> None:
    """What a new web process knows: what the shared cache holds, nothing in its memory."""
    from webapp.analysis import timeline
    from webapp.ui import segment_graph

    segment_graph._PARTITIONS.clear()
    segment_graph._GRAPHS.clear()
    timeline._INTENTS.clear()
    segment_graph._MEMBERSHIPS.clear()
    segment_graph._PAGES.clear()


def _fresh_cache_keys(label: str) -> None:
    """Cache keys no earlier run or step used: nothing of the graph page is cached."""
    from webapp.ui import segment_graph

    run = f"bench-{time.time_ns()}-{label}"
    segment_graph.LAYOUT_PREFIX = f"{run}:layout:"
    segment_graph.PAIRS_PREFIX = f"{run}:segment-pairs:"
    segment_graph.PAGE_PREFIX = f"{run}:graph-page:"


def graph_page(scale: SeedScale, reuse: bool = False) -> dict[str, Any]:
    """Every figure of the graph page's data, in this process; `reuse`: on the rows the
    previous run of the same scale stored."""
    if not fresh_database("dashboard graph", sibling_url("_graph"), reuse=reuse):
        return {}
    from django.db import connection

    from bench.graph_rows import store
    from webapp.analysis.models import AnalysisState, GraphEdge
    from webapp.ui import segment_graph
    from webapp.ui.tasks import warm_segment_graph_task

    seed = seed_fleet(scale)
    started = time.perf_counter()
    pairs = GraphEdge.objects.count() if reuse else store(seed)
    store_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        if not reuse:
            cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT pg_total_relation_size('analysis_graphedge')")
        table_bytes = cursor.fetchone()[0]
    client = _client()
    url = "/data/segment-graph/"
    # Cache keys of this run's own: a cold start, without clearing a shared cache.
    _fresh_cache_keys("cold")
    _forget_counts()
    cold_s, body = _get(client, url)
    _forget_counts()
    segment_graph.PAGE_PREFIX += "restart:"  # the page data itself is not in the cache
    restart_s, _ = _get(client, url)
    # What a deployment does: the worker builds the page data once an analysis is stored,
    # and the first request of a web process that never served finds it in the cache.
    _fresh_cache_keys("worker")
    _forget_counts()
    started = time.perf_counter()
    warm_segment_graph_task.apply()
    worker_s = time.perf_counter() - started
    _forget_counts()
    first_s, first_body = _get(client, url)
    assert first_body == body
    warm = [_get(client, url)[0] for _ in range(5)]
    # One host's analysis stored again: its partition is counted again, the others are not.
    state = AnalysisState.objects.order_by("host_id").first()
    assert state is not None
    AnalysisState.objects.filter(pk=state.pk).update(inputs_hash=state.inputs_hash + "-again")
    one_host_s, _ = _get(client, url)
    focus_s, focused = _get(client, f"{url}?focus={sorted(seed.intent.segments)[0]}")
    gzip_s, sent = _get(client, url, HTTP_ACCEPT_ENCODING="gzip")
    assert gzip.decompress(sent) == body
    page_s, _ = _get(client, "/segment-graph/")
    data = json.loads(body)
    return {
        "scale": str(scale), "segments": len(seed.intent.segments),
        "workloads": len(seed.workloads), "pairs": pairs, "store_s": round(store_s, 1),
        "graph_edge_table_mib": round(table_bytes / MIB),
        "nodes_drawn": len(data["segments"]), "edges_drawn": len(data["edges"]),
        "grouped": data["grouping"]["grouped"],
        "json_bytes": len(body), "gzip_bytes": len(sent), "gzip_s": round(gzip_s, 3),
        "cold_s": round(cold_s, 2), "restart_s": round(restart_s, 2),
        "worker_build_s": round(worker_s, 2), "first_request_s": round(first_s, 3),
        "warm_s_median": round(statistics.median(warm), 3),
        "after_one_host_s": round(one_host_s, 3), "focus_s": round(focus_s, 3),
        "focus_nodes": len(json.loads(focused)["segments"]), "page_s": round(page_s, 3),
    }


# Stamps, in the page, the live events and the end of every segment graph redraw.
PROBE = """
(() => {
  window.benchEvents = [];
  window.benchDraws = [];
  const Native = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", (message) => {
      try { window.benchEvents.push({at: Date.now(), event: JSON.parse(message.data)}); }
      catch (err) { window.benchEvents.push({at: Date.now(), event: null}); }
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.attributeName === "data-drawn") { window.benchDraws.push(Date.now()); }
    }
  }).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-drawn"]});
})();
"""


def _analysed(hosts: int, deadline: float) -> None:
    from webapp.analysis.models import AnalysisState
    from webapp.inventory.models import Host

    while not (AnalysisState.objects.filter(status="done").count() == hosts
               and not Host.objects.filter(analysis_due_at__isnull=False).exists()):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not analyse the demo bundle")
        time.sleep(0.2)  # paces the polling of the database only


def _snapshot_dumps(round_number: int) -> dict[str, str]:
    """node-01's newest demo dumps with one counter changed: new content, the same rules."""
    folder = sorted((DEMO / "hosts" / "node-01").iterdir())[-1]
    dumps = {path.name: path.read_text() for path in folder.iterdir()}
    text = dumps["iptables-save"]
    at = text.index("[0:0]")
    dumps["iptables-save"] = (text[:at] + f"[{round_number}:{round_number * 60}]"
                              + text[at + len("[0:0]"):])
    return dumps


def live_latency(rounds: int) -> dict[str, Any]:
    """Snapshot POST to the open segment graph page's update, `rounds` times."""
    if not os.environ.get("REDIS_URL"):
        print("dashboard live (skipped: needs REDIS_URL for the worker and channel layer)")
        return {}
    if not fresh_database("dashboard live", sibling_url("_live")):
        return {}
    import urllib.request
    from datetime import UTC, datetime, timedelta

    from celery import current_app
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import ARGS, CHROMIUM
    from tests.browser.servers import start_uvicorn, start_worker, stop
    from webapp.inventory.models import AgentToken, Host
    from webapp.rules.bundle import ingest_bundle

    current_app.control.purge()
    worker = start_worker()
    server = None
    try:
        ingest_bundle(DEMO)
        _analysed(Host.objects.count(), time.monotonic() + 300)
        server = start_uvicorn()
        get_user_model().objects.create_user(username="bench", password="bench-password")
        host = Host.objects.get(name="node-01")
        _, token = AgentToken.issue(host)
        first = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
        post_ms, event_ms, update_ms = [], [], []
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls beside Playwright's loop
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # The page's CSP forbids eval, which Playwright's polling of the stamps uses.
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page.add_init_script(PROBE)
            page.goto(f"{server.url}/login/")
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", "bench-password")
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/")
            page.goto(f"{server.url}/segment-graph/")
            try:
                page.wait_for_function("document.querySelector('#live-status')?.textContent "
                                       "=== 'live' && window.benchDraws.length >= 1",
                                       timeout=PAGE_WAIT_MS)
            except Exception:
                print(page.evaluate("[document.querySelector('#live-status')?.textContent, "
                                    "window.benchDraws, window.benchEvents, "
                                    "document.querySelector('#segment-graph').dataset.drawn]"),
                      file=sys.stderr)
                raise
            for number in range(1, rounds + 1):
                body = json.dumps({
                    "host": host.name, "dumps": _snapshot_dumps(number),
                    "collected_at": (first + timedelta(seconds=number)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ")}).encode()
                request = urllib.request.Request(
                    f"{server.url}/api/ingest/snapshots/", data=body, method="POST",
                    headers={"Authorization": f"Token {token}",
                             "Content-Type": "application/json"})
                sent = time.time() * 1000
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 201
                answered = time.time() * 1000
                page.wait_for_function(
                    """(sent) => {
                      const event = window.benchEvents.find((e) => e.at >= sent && e.event &&
                        e.event.type === "host.analysed");
                      return event && window.benchDraws.some((at) => at >= event.at);
                    }""", arg=sent, timeout=PAGE_WAIT_MS)
                event_at, drawn_at = page.evaluate(
                    """(sent) => {
                      const event = window.benchEvents.find((e) => e.at >= sent && e.event &&
                        e.event.type === "host.analysed");
                      return [event.at, window.benchDraws.find((at) => at >= event.at)];
                    }""", sent)
                post_ms.append(answered - sent)
                event_ms.append(event_at - sent)
                update_ms.append(drawn_at - sent)
            # The socket is opened once; each reopening would say "subscribed" again.
            subscribed = page.evaluate("window.benchEvents.filter((e) => e.event && "
                                       "e.event.type === 'subscribed').length")
            browser.close()
    finally:
        if server is not None:
            stop(server.process)
        stop(worker)
    return {"rounds": rounds, "socket_openings": subscribed, "post_ms": _percentiles(post_ms),
            "event_ms": _percentiles(event_ms), "update_ms": _percentiles(update_ms)}


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = [ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] for q in (0.5, 0.95)]
    return {"p50": round(at[0]), "p95": round(at[1]), "max": round(ordered[-1])}


def run(quick: bool = False) -> dict[str, Any]:
    """Both parts, each in a fresh process; prints and returns their figures."""
    out: dict[str, Any] = {}
    for part in ("graph", "live"):
        command = [sys.executable, "-m", "bench.dashboard_bench", "--part", part, "--json"]
        if quick:
            command.append("--quick")
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False)
        sys.stderr.write(done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"dashboard {part} failed: {done.stderr[-2000:]}")
        text = done.stdout[done.stdout.find("{"):] if "{" in done.stdout else "{}"
        out[part] = json.loads(text)
        print(f"dashboard {part}: {json.dumps(out[part])}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard_bench")
    parser.add_argument("--quick", action="store_true",
                        help="1,200 segments of 2 workloads and 3 rounds, for a smoke run")
    parser.add_argument("--part", choices=("graph", "live"))
    parser.add_argument("--rounds", type=int, help="snapshot rounds of the live part")
    parser.add_argument("--reuse", action="store_true",
                        help="graph part: measure on the rows the previous run stored")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()
    if args.part is None:
        results: dict[str, Any] = run(args.quick)
    elif args.part == "graph":
        results = graph_page(QUICK_GRAPH if args.quick else SEED, args.reuse)
    else:
        results = live_latency(args.rounds or (3 if args.quick else 40))
    print(json.dumps(results, indent=2 if not args.json else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
