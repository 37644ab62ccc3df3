"""Ingest throughput on PostgreSQL: flow batches (parse, aggregate, COPY) and fleet snapshots.

Uses its own database (BENCH_DATABASE_URL, default segscope_bench on 127.0.0.1), dropped,
created and migrated at every run, so that benchmarks never touch the test or demo data."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.database import fresh_database
from bench.fleet import host_table, workload_address
from bench.timing import best_of


def _setup() -> bool:
    return fresh_database("ingest")


def aws_flow_text(lines: int, seed: int = 3, pairs: int = 5_000) -> str:
    """AWS VPC v2 records between fleet workloads over ten minutes: `pairs` client-service
    pairs talk again and again (with new source ports), as a fleet's east-west traffic does."""
    rng = random.Random(seed)
    start = int(datetime(2026, 11, 26, 3, tzinfo=UTC).timestamp())
    conversations = [(workload_address(rng.randrange(1000), rng.randrange(20)),
                      workload_address(rng.randrange(50), rng.randrange(4)))
                     for _ in range(pairs)]
    out = ["version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
           "bytes start end action log-status"]
    for i in range(lines):
        src, dst = conversations[rng.randrange(pairs)]
        t = start + (i * 600) // lines
        action = "ACCEPT" if rng.random() < 0.9 else "REJECT"
        out.append(f"2 123456789010 eni-0a1b2c3d {src} {dst} {rng.randrange(32768, 61000)} "
                   f"{5432 if dst.endswith('.1') else 443} 6 {rng.randrange(1, 40)} "
                   f"{rng.randrange(60, 40000)} {t} {t + 30} {action} OK")
    return "\n".join(out) + "\n"


def _ingest_batches(texts: list[str]) -> int:
    from django.db import connections

    from webapp.flows.services import ingest_flows
    from webapp.inventory.models import Host

    connections.close_all()  # a forked worker opens its own connection
    host, _ = Host.objects.get_or_create(name=f"bench-flows-{os.getpid()}")
    total = 0
    for text in texts:
        batch, _ = ingest_flows(host, "aws_vpc", f"bench-{random.random()}.log", text)
        total += batch.accepted
    return total


def _snapshots(host_ids: list[int], round_number: int, tables: list[str]) -> int:
    """One snapshot per host from `tables`; per-host counters make every table distinct, as on
    a real fleet, so nothing is deduplicated."""
    from django.db import connections

    from webapp.inventory.models import Host
    from webapp.rules.services import ingest_snapshot

    connections.close_all()  # a forked worker opens its own connection
    when = datetime.now(UTC)
    for i, host in enumerate(Host.objects.filter(pk__in=host_ids).order_by("pk")):
        text = tables[i % len(tables)].replace("[0:0]", f"[{i}:{i * 60 + round_number}]")
        ingest_snapshot(host, when + timedelta(seconds=i), {"iptables-save": text}, raw={})
    return len(host_ids)


def naive_flows(text: str) -> int:
    """The straightforward ingest a first version would write: every raw record parsed into an
    object and saved as its own row (ORM bulk_create, no aggregation, no COPY)."""
    from django.db import transaction

    from collectors.flowlogs import parse_any
    from webapp.flows.models import FlowRecord
    from webapp.inventory.models import Host

    host, _ = Host.objects.get_or_create(name="bench-flows-naive")
    result = parse_any(text, "naive.log")
    with transaction.atomic():
        FlowRecord.objects.bulk_create(
            [FlowRecord(host=host, bucket_start=r.start, bucket_end=r.end, src=r.src, dst=r.dst,
                        proto=r.proto, dport=r.dport, icmp_type=r.icmp_type,
                        icmp_code=r.icmp_code, packets=r.packets, bytes=r.bytes, records=1,
                        verdict=r.verdict, rule_ref=r.rule_ref, observer=r.observer or "",
                        source_format=r.source_format) for r in result.records],
            batch_size=2000)
    return len(result.records)


def naive_snapshot(host_id: int, text: str) -> None:
    """The straightforward snapshot ingest: parse, then the ORM saves snapshot, tables, chains
    and rules (bulk_create, no COPY), in one transaction."""
    from django.db import transaction

    from webapp.rules.dumps import parse_dumps
    from webapp.rules.models import ParsedChain, ParsedRule, ParsedTable, Snapshot
    from webapp.rules.services import content_hash

    dumps = {"iptables-save": text}
    parsed = parse_dumps(dumps, max_rules=10**6)
    now = datetime.now(UTC)
    with transaction.atomic():
        snapshot = Snapshot.objects.create(
            host_id=host_id, content_hash=content_hash(dumps), collected_at=now,
            last_seen_at=now, dumps=dumps, rule_count=len(parsed.rules))
        ParsedTable.objects.bulk_create(
            [ParsedTable(snapshot=snapshot, **row._asdict()) for row in parsed.tables])
        ParsedChain.objects.bulk_create(
            [ParsedChain(snapshot=snapshot, **row._asdict()) for row in parsed.chains])
        ParsedRule.objects.bulk_create(
            [ParsedRule(snapshot=snapshot, **row._asdict()) for row in parsed.rules],
            batch_size=2000)


def _parallel_snapshots(host_ids: list[int], workers: int, tables: list[str]) -> float:
    """Seconds for `workers` processes to ingest one new snapshot for every host."""
    import multiprocessing
    import time

    from django.db import connections

    connections.close_all()
    shares = [host_ids[i::workers] for i in range(workers)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.starmap(_snapshots, [(share, 1, tables) for share in shares])
    return time.perf_counter() - start


def _http_flows(texts: list[str], processes: int, agents: int, rounds: int) -> float:
    """Records/s accepted over HTTP by the production web server (uvicorn with `processes`
    processes) while `agents` agents post batches at once; the best of `rounds`."""
    import json
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    from webapp.inventory.models import AgentToken, Host

    tokens = []
    for n in range(agents):
        host, _ = Host.objects.get_or_create(name=f"bench-http-{n}")
        tokens.append((host.name, AgentToken.issue(host)[1]))
    port = 18000 + os.getpid() % 1000
    env = dict(os.environ, WEB_CONCURRENCY=str(processes), LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--lifespan", "off", "--no-access-log", "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[1], env=env)
    url = f"http://127.0.0.1:{port}"

    def post(token: str, body: bytes) -> int:
        request = urllib.request.Request(
            f"{url}/api/ingest/flows/", data=body, method="POST",
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                return int(json.loads(answer.read())["accepted"])
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"the server answered {error.code}: "
                               f"{error.read()[:500]!r}") from None

    def bodies(batch_texts: list[str]) -> list[list[tuple[str, bytes]]]:
        """Each agent's share of the batches, encoded before any clock starts."""
        return [[(token, json.dumps({"host": name, "source": "aws_vpc",
                                     "filename": f"http-{random.random()}.log",
                                     "text": text}).encode())
                 for text in batch_texts[i::agents]]
                for i, (name, token) in enumerate(tokens)]

    def send_all(shares: list[list[tuple[str, bytes]]]) -> int:
        with ThreadPoolExecutor(max_workers=agents) as pool:
            return sum(pool.map(lambda share: sum(post(*item) for item in share), shares))

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the web server did not start") from None
                time.sleep(0.2)  # paces the polling only
        # Warm-up: every process answers a few small batches before the clock starts.
        send_all(bodies([text[:200_000] for text in texts[:1] * agents * 2]))
        best = 0.0
        for _ in range(rounds):
            shares = bodies(texts)
            start = time.perf_counter()
            accepted = send_all(shares)
            best = max(best, accepted / (time.perf_counter() - start))
        return best
    finally:
        server.terminate()
        server.wait(timeout=60)


def _parallel_flows(texts: list[str], workers: int) -> float:
    """Records/s when `workers` processes ingest batches at once."""
    import multiprocessing
    import time

    from django.db import connections

    connections.close_all()
    shares = [texts[i::workers] for i in range(workers)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        accepted = sum(pool.map(_ingest_batches, shares))
    return accepted / (time.perf_counter() - start)


def run(quick: bool = False) -> dict[str, Any]:
    if not _setup():
        return {}
    from webapp.flows.models import FlowRecord
    from webapp.flows.services import ingest_flows
    from webapp.inventory.models import Host
    from webapp.rules.models import Snapshot

    FlowRecord.objects.all().delete()
    host, _ = Host.objects.get_or_create(name="bench-flows")
    batch = 20_000 if quick else 100_000
    batches = 2 if quick else 5
    texts = [aws_flow_text(batch, seed) for seed in range(batches)]
    accepted = written = 0

    def flows() -> None:
        nonlocal accepted, written
        accepted = written = 0
        for i, text in enumerate(texts):
            result, _ = ingest_flows(host, "aws_vpc", f"bench-{i}-{random.random()}.log", text)
            accepted += result.accepted
            written += result.written

    flow_time, _ = best_of(1 if quick else 3, flows)
    flow_rate = accepted / flow_time
    naive_time, naive_records = best_of(1 if quick else 3,
                                        lambda: naive_flows(texts[0][:len(texts[0]) // 5]))
    naive_rate = naive_records / naive_time
    print(f"ingest flows: {accepted:,} AWS records in {flow_time:.2f} s = {flow_rate:,.0f} "
          f"records/s accepted; {written:,} rows written (aggregation {accepted / written:.1f}:1)")
    print(f"  baseline, a row per record through the ORM: {naive_rate:,.0f} records/s; "
          f"ratio {flow_rate / naive_rate:.1f}x")
    parallel_rate = max(_parallel_flows(texts, workers=2) for _ in range(1 if quick else 2))
    print(f"ingest flows, 2 worker processes (one per core, as web workers run): "
          f"{parallel_rate:,.0f} records/s accepted")
    http_rate = _http_flows(texts, processes=2, agents=4, rounds=1 if quick else 2)
    print(f"ingest flows over HTTP (JSON, token check), uvicorn with 2 processes, 4 agents "
          f"posting: {http_rate:,.0f} records/s accepted")

    hosts = 50 if quick else 1000
    rules_per_host = 2000
    Snapshot.objects.filter(host__name__startswith="bench-node-").delete()
    nodes = [Host.objects.get_or_create(name=f"bench-node-{i:04}")[0].pk for i in range(hosts)]
    # Tables are generated before any clock starts; both ways ingest the same ones.
    tables = [host_table(rules_per_host, seed=seed)[0] for seed in range(20)]
    snap_time, _ = best_of(1, lambda: _snapshots(nodes, 0, tables))

    def naive_snapshots() -> None:
        for i in range(20):
            naive_snapshot(nodes[i], tables[i])

    naive_each, _ = best_of(1, naive_snapshots)
    naive_each /= 20
    print(f"ingest snapshots: {hosts} hosts x {rules_per_host} rules in {snap_time:.1f} s "
          f"({snap_time / hosts * 1000:.0f} ms per snapshot)")
    print(f"  baseline, the ORM's bulk_create: {naive_each * 1000:.0f} ms per snapshot; "
          f"ratio {naive_each / (snap_time / hosts):.1f}x")
    parallel_snap = _parallel_snapshots(nodes, workers=2, tables=tables)
    print(f"ingest snapshots, 2 worker processes: {hosts} hosts x {rules_per_host} rules in "
          f"{parallel_snap:.1f} s")
    return {"flow_records": accepted, "flow_rows": written, "flow_s": round(flow_time, 2),
            "flow_records_per_s": round(flow_rate),
            "flow_baseline_records_per_s": round(naive_rate),
            "flow_records_per_s_2_workers": round(parallel_rate),
            "flow_records_per_s_http_2_processes": round(http_rate), "snapshot_hosts": hosts,
            "rules_per_host": rules_per_host, "snapshot_s": round(snap_time, 1),
            "snapshot_baseline_ms": round(naive_each * 1000),
            "snapshot_s_2_workers": round(parallel_snap, 1)}
