"""Segscope on mixed hosts against the kernel: an iptables-nft `filter` table (with ipsets) and a
native nft `inet` table whose base chains sit on the same hooks below, at and above priority 0.

Each rule set is loaded in a namespace (`iptables-restore`, `ipset restore`, `nft -f`, in a random
order of the two tables), crafted IPv4 probes are sent from a sender namespace, and
`nft monitor trace` (which traces both tables) is the oracle for the verdict and deciding rule.
`segscope explain` gets the kernel's own dumps. Settings (environment): SEGSCOPE_KERNEL_SEED
(default 20261127), SEGSCOPE_MIXED_RULESETS (default 30), SEGSCOPE_MIXED_PROBES (default 20),
SEGSCOPE_MIXED_NFT_FIRST (share of rule sets whose nft table is loaded first, default 0.3).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from collectors.lab.probes import Probe
from tests.kernel.mixed_lab import (
    Layout,
    MixedLab,
    kernel_decider,
    kernel_verdict,
    random_ipset,
    random_iptables,
    segscope_decider,
)
from tests.kernel.nft_lab import TraceEvent, can_run
from tests.kernel.test_nft_differential import (
    FORWARDED,
    LOCAL,
    PORTS,
    SOURCES,
    RulesetGenerator,
)

pytestmark = pytest.mark.kernel

SEED = int(os.environ.get("SEGSCOPE_KERNEL_SEED", "20261127"))
RULESETS = int(os.environ.get("SEGSCOPE_MIXED_RULESETS", "30"))
PROBES = int(os.environ.get("SEGSCOPE_MIXED_PROBES", "20"))
# How often the nft table is loaded before iptables' (at equal priority the later one runs first).
NFT_FIRST = float(os.environ.get("SEGSCOPE_MIXED_NFT_FIRST", "0.3"))
REPO_ROOT = Path(__file__).resolve().parents[2]
# Only the inet table's input and forward chains (priorities -20..30 and -10, 0, 10).
NO_HOOKS = {"prerouting": {-300, -250, -160, -120, -50, 0, 20}, "postrouting": {-10, 0, 50, 200}}


def random_nft(rng: random.Random) -> str:
    generator = RulesetGenerator(rng)
    generator._table("inet", "t0", {hook: set(p) for hook, p in NO_HOOKS.items()})
    return "\n".join(generator.lines) + "\n"


def random_probes(rng: random.Random, count: int, first_id: int) -> list[Probe]:
    """IPv4 probes (iptables is IPv4 only here), unique source port per protocol."""
    probes: list[Probe] = []
    seen: set[tuple[str, int]] = set()
    destinations = [a for a in LOCAL + FORWARDED if ":" not in a]
    while len(probes) < count:
        proto = rng.choice(("tcp", "tcp", "udp", "icmp"))
        sport = rng.choice((1234, 22000, rng.randint(32768, 60999)))
        if proto != "icmp" and (proto, sport) in seen:
            continue
        seen.add((proto, sport))
        dport = rng.choice(PORTS) if rng.random() < 0.8 else rng.randint(1000, 2000)
        probes.append(Probe(ip_id=first_id + len(probes), src=rng.choice(SOURCES),
                            dst=rng.choice(destinations), proto=proto, sport=sport, dport=dport,
                            icmp_type=rng.choice((8, 8, 13)), ttl=rng.choice((64, 64, 63))))
    return probes


def hook_of(probe: Probe) -> str:
    return "INPUT" if probe.dst in LOCAL else "FORWARD"


def cli_fields(probe: Probe) -> dict[str, Any]:
    hook = hook_of(probe)
    fields: dict[str, Any] = {"id": str(probe.ip_id), "src": probe.src, "dst": probe.dst,
                              "proto": probe.proto, "in_iface": "eth0", "ct_state": "NEW",
                              "ttl": probe.ttl, "hook": hook}
    if hook == "FORWARD":
        fields["out_iface"] = "cali0"
    if probe.proto == "icmp":
        fields["icmp_type"] = probe.icmp_type
    else:
        fields.update(sport=probe.sport, dport=probe.dport)
    if probe.proto == "tcp":
        fields["tcp_flags"] = "SYN"
    return fields


def segscope(dumps: tuple[str, str, str], probes: list[dict[str, Any]]
             ) -> subprocess.Popen[str]:
    """`segscope explain` on the kernel's dumps, started in the background."""
    folder = Path(tempfile.mkdtemp(prefix="ssm-explain-"))
    names = ("iptables-save", "ipset-save", "nft.json")
    for name, text in zip(names, dumps, strict=True):
        (folder / name).write_text(text)
    (folder / "probes.jsonl").write_text("".join(json.dumps(p) + "\n" for p in probes))
    return subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "explain", "--iptables-save",
         str(folder / names[0]), "--ipset-save", str(folder / names[1]), "--nft-json",
         str(folder / names[2]), "--probes", str(folder / "probes.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)


def answers_of(process: subprocess.Popen[str], count: int) -> dict[str, dict[str, Any]]:
    stdout, stderr = process.communicate(timeout=120)
    answers = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert len(answers) == count, f"segscope explain: {len(answers)} answers\n{stderr[-3000:]}"
    return {a["id"]: a for a in answers}


def reached_end(events: list[TraceEvent], layout: Layout, hook: str) -> bool:
    """The trace shows the packet entering a base chain of its own hook, or a drop."""
    entered = {layout.hooks.get((e.family, e.table, e.chain)) for e in events
               if e.kind == "packet"}
    return any(h is not None and h[0] == hook.lower() for h in entered) or any(
        e.verdict == "drop" for e in events)


def show(events: list[TraceEvent]) -> str:
    return "\n".join(f"  {e.family} {e.table} {e.chain} {e.kind}"
                     + (f" handle {e.handle}" if e.handle is not None else "")
                     + (f" verdict {e.verdict}" if e.verdict else "")
                     + (f" {e.target}" if e.target else "") for e in events
                     if e.kind != "packet" or e.table != "ssn_tracer")


def test_mixed_iptables_and_nft_verdicts_equal_the_kernels() -> None:
    reason = can_run()
    if reason:
        pytest.skip(reason)
    rng = random.Random(SEED)
    stats = {"rulesets": 0, "probes": 0, "agree": 0, "ACCEPT": 0, "DROP": 0, "REJECT": 0,
             "FORWARD": 0, "decided_by_iptables": 0, "decided_by_nft": 0}
    failures: list[str] = []
    started = time.monotonic()
    with MixedLab(f"{os.getpid() % 100000}") as lab:
        for number in range(RULESETS):
            iptables, ipset, nft = random_iptables(rng), random_ipset(rng), random_nft(rng)
            nft_first = rng.random() < NFT_FIRST
            lab.load_mixed(iptables, ipset, nft, nft_first)
            dumps = lab.dumps()
            layout = Layout.of(dumps[2])
            probes = random_probes(rng, PROBES, 1000 + number * 100)
            fields = [cli_fields(p) for p in probes]
            process = segscope(dumps, fields)
            flush = "".join(f"flush set inet t0 {name}\n" for name in ("dyn", "dyn6")
                            if f"set inet t0 {name} " in nft)
            lab.forget()
            complete = {}
            for probe in probes:
                if flush:
                    lab.nft(flush)  # Segscope's dump holds the dynamic sets empty
                complete[probe.ip_id] = lab.trace_one(probe, deadline=5.0)
            answers = answers_of(process, len(probes))
            stats["rulesets"] += 1
            for probe, field in zip(probes, fields, strict=True):
                events = lab.events(probe.ip_id)
                hook = hook_of(probe)
                done = complete[probe.ip_id] and reached_end(events, layout, hook)
                verdict = kernel_verdict(events, layout, done)
                decider = kernel_decider(events, hook, layout)
                answer = answers[field["id"]]
                ours = segscope_decider(answer)
                stats["probes"] += 1
                stats["FORWARD"] += hook == "FORWARD"
                if answer.get("verdict") == verdict and ours == decider:
                    stats["agree"] += 1
                    stats[verdict] += 1
                    stats["decided_by_nft" if decider and "family" in decider
                          else "decided_by_iptables"] += 1
                    continue
                failures.append(
                    f"=== rule set {number} (nft table loaded {'first' if nft_first else 'last'})"
                    f", probe {json.dumps(field)}\n"
                    f"kernel:   {verdict} by {decider}\n"
                    f"segscope: {answer.get('verdict')} by {ours}"
                    f"{' error ' + answer['error'] if answer.get('error') else ''}\n"
                    f"kernel trace:\n{show(events)}\nsegscope trace:\n"
                    + "\n".join(f"  {step}" for step in answer.get("trace") or ())
                    + f"\n--- iptables-save ---\n{dumps[0]}--- ipset ---\n{ipset}"
                    f"--- nft -f ---\n{nft}")
    elapsed = time.monotonic() - started
    print(f"\nmixed differential (seed {SEED}, {elapsed:.1f} s): {stats}")
    if failures:
        pytest.fail(f"{len(failures)} of {stats['probes']} probes disagree:\n"
                    + "\n".join(f.split("\n", 3)[0] for f in failures) + "\nfirst ones:\n"
                    + "\n".join(failures[:4]), pytrace=False)
    assert stats["probes"] == RULESETS * PROBES
