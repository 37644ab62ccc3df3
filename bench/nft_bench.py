"""nftables evaluation throughput: the largest corpus rulesets and a 10,000-element set."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from bench.fleet import workload_address
from bench.timing import best_of
from webapp.engine.evaluate import explain
from webapp.engine.nft.evaluate import nft_base_chains_from_json
from webapp.engine.packet import Packet

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "nftables"


def set_ruleset(elements: int = 10_000, seed: int = 5) -> str:
    """`nft -j` JSON of an inet table whose input chain looks sources up in a large set and
    ports in a verdict map, the way set-based segmentation writes it."""
    rng = random.Random(seed)
    addresses = sorted({workload_address(rng.randrange(1000), rng.randrange(20))
                        for _ in range(elements * 2)})[:elements]
    table = {"family": "inet", "name": "seg", "handle": 1}
    items: list[dict[str, Any]] = [
        {"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5",
                      "json_schema_version": 1}},
        {"table": table},
        {"set": {"family": "inet", "name": "peers", "table": "seg", "type": "ipv4_addr",
                 "handle": 2, "elem": addresses}},
        {"chain": {"family": "inet", "table": "seg", "name": "input", "handle": 3,
                   "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "inet", "table": "seg", "name": "allowed", "handle": 4}},
        {"rule": {"family": "inet", "table": "seg", "chain": "input", "handle": 5, "expr": [
            {"match": {"op": "in", "left": {"ct": {"key": "state"}},
                       "right": ["established", "related"]}}, {"accept": None}]}},
        {"rule": {"family": "inet", "table": "seg", "chain": "input", "handle": 6, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": "@peers"}}, {"jump": {"target": "allowed"}}]}},
        {"rule": {"family": "inet", "table": "seg", "chain": "allowed", "handle": 7, "expr": [
            {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                      "data": {"set": [[p, {"accept": None}] for p in (443, 5432, 6379, 8000)]}}}
        ]}},
    ]
    return json.dumps({"nftables": items})


def _rate(name: str, text: str, probes: list[Packet], repeat: int) -> dict[str, Any]:
    compile_time, (chains, _) = best_of(repeat, lambda: nft_base_chains_from_json(text, name))
    base = chains.get(4, [])
    explain_time, _ = best_of(repeat, lambda: [explain(base, p) for p in probes])
    row = {"input": name, "compile_ms": round(compile_time * 1000, 1),
           "explains_per_s": round(len(probes) / explain_time)}
    print(f"nft    {name:60} load+compile {row['compile_ms']:>8} ms  "
          f"{row['explains_per_s']:>8,} explains/s")
    return row


def run(quick: bool = False) -> list[dict[str, Any]]:
    rng = random.Random(11)
    probes = [Packet(src=workload_address(rng.randrange(1000), rng.randrange(20)),
                     dst="192.0.2.1", proto="tcp", sport=40000,
                     dport=rng.choice((22, 443, 5432, 6379, 8000)))
              for _ in range(200 if quick else 2_000)]
    rows = []
    if CORPUS.is_dir():
        files = sorted(CORPUS.rglob("*.json-nft"), key=lambda p: p.stat().st_size,
                       reverse=True)[:3]
        for path in files:
            rows.append(_rate(str(path.relative_to(CORPUS)), path.read_text(), probes, 3))
    rows.append(_rate("generated: 10,000-element set + verdict map", set_ruleset(), probes, 3))
    return rows
