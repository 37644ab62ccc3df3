"""Explain throughput on a 5,000-rule table: compiled engine against the naive interpreter."""

from __future__ import annotations

import random
from typing import Any

from bench.fleet import input_table, workload_address
from bench.naive import naive_verdict
from bench.timing import best_of
from collectors.iptables import parse_iptables_save
from webapp.engine.evaluate import explain
from webapp.engine.iptables.compile import compile_ruleset
from webapp.engine.packet import Packet


def run(quick: bool = False) -> dict[str, Any]:
    text = input_table(5_000)
    ruleset = parse_iptables_save(text, "input-5000").check()
    compile_time, compiled = best_of(3, lambda: compile_ruleset(ruleset))
    rng = random.Random(7)
    probes = [Packet(src=workload_address(rng.randrange(1000), rng.randrange(20)),
                     dst="192.0.2.1", proto="tcp", sport=40000,
                     dport=rng.choice((22, 53, 80, 443, 5432, 6379, 8000, 8080)))
              for _ in range(200 if quick else 2_000)]
    engine_time, verdicts = best_of(3, lambda: [explain(compiled, p).verdict for p in probes])
    naive_probes = probes[: 50 if quick else 200]
    naive_time, naive = best_of(3, lambda: [
        naive_verdict(ruleset, "INPUT", p.src, p.proto, int(p.dport or 0))[0]
        for p in naive_probes])
    if naive != verdicts[: len(naive_probes)]:
        raise SystemExit("bench: the engine and the naive interpreter disagree")
    engine_rate = len(probes) / engine_time
    naive_rate = len(naive_probes) / naive_time
    first = best_of(1, lambda: [explain(compile_ruleset(ruleset), p) for p in probes[:1]])[0]
    row = {"rules": ruleset.rule_count, "compile_s": round(compile_time, 3),
           "compile_and_first_explain_s": round(first, 3),
           "engine_explains_per_s": round(engine_rate), "naive_explains_per_s": round(naive_rate),
           "ratio": round(engine_rate / naive_rate, 1)}
    print(f"explain 5,000-rule INPUT chain: compile {compile_time * 1000:.0f} ms; engine "
          f"{engine_rate:,.0f} explains/s (full trace); naive rule-by-rule {naive_rate:,.0f}/s; "
          f"ratio {row['ratio']}x")
    return row
