"""Parse throughput: the largest corpus dumps and a generated 100,000-rule dump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.fleet import host_table
from bench.timing import best_of
from collectors.iptables import Ruleset, clear_caches, parse_iptables_save

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "iptables"


def _measure(name: str, text: str, repeat: int) -> dict[str, Any]:
    # Every timing starts with empty rule-text caches: each rule is parsed as if new.
    def parse() -> Ruleset:
        clear_caches()
        return parse_iptables_save(text, name)

    def decode_all() -> None:
        # Decoding every option (what compile and ingest validation need).
        clear_caches()
        parse_iptables_save(text, name).check()

    structural, ruleset = best_of(repeat, parse)
    full, _ = best_of(repeat, decode_all)
    rules = ruleset.rule_count
    row = {"input": name, "rules": rules, "structural_rules_per_s": round(rules / structural),
           "decoded_rules_per_s": round(rules / full)}
    print(f"parse  {name:60} {rules:>7} rules  {row['structural_rules_per_s']:>9,} rules/s "
          f"(parse)  {row['decoded_rules_per_s']:>9,} rules/s (parse + decode every option)")
    return row


def run(quick: bool = False) -> list[dict[str, Any]]:
    rows = []
    if CORPUS.is_dir():
        files = sorted((p for p in CORPUS.rglob("*") if p.is_file() and p.stat().st_size > 0),
                       key=lambda p: p.stat().st_size, reverse=True)[:2 if quick else 4]
        for path in files:
            rows.append(_measure(str(path.relative_to(CORPUS.parent)),
                                 path.read_text(errors="replace"), 3 if quick else 7))
    else:
        print(f"parse  (corpus not found at {CORPUS}: generated input only)")
    text, _ = host_table(10_000 if quick else 100_000)
    rows.append(_measure(f"generated {'10k' if quick else '100k'}-rule control-plane table",
                         text, 2 if quick else 5))
    return rows
