"""One differential run: a generated rule set through the kernel (lab) and `segscope explain`.

The CLI is given what the kernel holds (`iptables-save` and `ipset save` read back from the
namespace), exactly as a collector would capture it, and all probes of the rule set at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.lab.netns import Lab, LabError, LoadedRuleset
from collectors.lab.probes import Probe, tcp_flag_bits
from collectors.lab.tracing import KernelVerdict, MonitorLost, TraceError, observe
from tests.kernel.generator import GeneratedRuleset

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "webapp.cli", "explain"]
SHOWN_DISAGREEMENTS = 5
NAT_KEYS = ("dst", "dport", "src", "sport")


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A probe on which Segscope and the kernel differ, and in what.

    `imprecise` when Segscope did not commit to an answer (UNKNOWN, or no deciding rule) but
    lists the kernel's among its possible outcomes; wrong otherwise.
    """

    probe: dict[str, Any]
    kernel: KernelVerdict
    segscope: dict[str, Any]
    reasons: tuple[str, ...]
    imprecise: bool


@dataclass(slots=True)
class Outcome:
    """The result of one rule set: counts, disagreements, and what is needed to reproduce it."""

    generated: GeneratedRuleset
    loaded: LoadedRuleset
    agreed: int = 0
    disagreements: list[Disagreement] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)

    @property
    def probes(self) -> int:
        return self.agreed + len(self.disagreements)

    @property
    def imprecise(self) -> int:
        return sum(item.imprecise for item in self.disagreements)

    def message(self) -> str:
        """Everything needed to reproduce a disagreement without the lab."""
        parts = [f"seed {self.generated.seed}: Segscope disagrees with the kernel on "
                 f"{len(self.disagreements)} of {self.probes} probes",
                 "--- iptables-save (as loaded in the kernel) ---", self.loaded.iptables_save]
        if self.loaded.ipset_save.strip():
            parts += ["--- ipset save ---", self.loaded.ipset_save]
        for item in self.disagreements[:SHOWN_DISAGREEMENTS]:
            kind = "imprecise" if item.imprecise else "wrong"
            answer = item.segscope
            parts += [f"=== probe {item.probe['id']} ({kind}): {'; '.join(item.reasons)}",
                      "probe: " + json.dumps(item.probe),
                      f"kernel:   {item.kernel.verdict} by {json.dumps(item.kernel.decided_by)}"
                      + (f" nat {json.dumps(item.kernel.nat)}" if item.kernel.nat else ""),
                      f"segscope: {item.segscope.get('verdict')} by "
                      f"{json.dumps(item.segscope.get('decided_by'))}"
                      + (f" nat {json.dumps(item.segscope.get('nat'))}"
                         if item.segscope.get("nat") else ""),
                      "kernel trace:", *item.kernel.trace, "segscope trace:",
                      *(f"  {step}" for step in answer.get("trace") or ()),
                      *(f"  possible: {json.dumps(p)}" for p in answer.get("possible") or ()),
                      *([f"  error: {answer['error']}"] if answer.get("error") else [])]
        if len(self.disagreements) > SHOWN_DISAGREEMENTS:
            parts.append(f"... and {len(self.disagreements) - SHOWN_DISAGREEMENTS} more")
        return "\n".join(parts)


@dataclass(slots=True)
class Tally:
    """Totals over the differential run, printed at the end of the session."""

    rulesets: int = 0
    probes: int = 0
    agreed: int = 0
    imprecise: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    failed_seeds: list[int] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.rulesets += 1
        self.probes += outcome.probes
        self.agreed += outcome.agreed
        self.imprecise += outcome.imprecise
        for verdict, count in outcome.verdicts.items():
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + count
        if outcome.disagreements:
            self.failed_seeds.append(outcome.generated.seed)


def load_kernel(lab: Lab, generated: GeneratedRuleset) -> LoadedRuleset:
    """Load the rule set and insert the connections that ESTABLISHED probes belong to."""
    loaded = lab.load(generated.iptables_restore, generated.ipset_restore)
    for fields, probe in generated.probes:
        if fields["ct_state"] == "ESTABLISHED":
            lab.add_connection(probe)
    return loaded


class SegscopeRun:
    """One `segscope explain` call for all probes of a rule set, running in the background."""

    def __init__(self, loaded: LoadedRuleset, probes: list[dict[str, Any]]) -> None:
        self.probes = probes
        self._folder = tempfile.TemporaryDirectory(prefix="ssk-explain-")
        folder = Path(self._folder.name)
        (folder / "iptables-save").write_text(loaded.iptables_save)
        (folder / "ipset-save").write_text(loaded.ipset_save)
        (folder / "probes.jsonl").write_text("".join(json.dumps(p) + "\n" for p in probes))
        command = CLI + ["--iptables-save", str(folder / "iptables-save"),
                         "--ipset-save", str(folder / "ipset-save"),
                         "--probes", str(folder / "probes.jsonl")]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, cwd=REPO_ROOT)

    def answers(self, timeout: float = 300) -> dict[str, dict[str, Any]]:
        """Segscope's answers by probe id, checked to be one per probe and in input order."""
        try:
            stdout, stderr = self._process.communicate(timeout=timeout)
        finally:
            self._folder.cleanup()
        answers = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        if len(answers) != len(self.probes):
            raise AssertionError(f"segscope explain exited {self._process.returncode} with "
                                 f"{len(answers)} answers for {len(self.probes)} probes:\n"
                                 f"{stderr[-3000:]}")
        for probe, answer in zip(self.probes, answers, strict=True):
            if answer.get("id") != probe["id"]:
                raise AssertionError(f"answers out of order: {answer.get('id')} for {probe['id']}")
        return {answer["id"]: answer for answer in answers}


def rule_lines(iptables_save: str) -> dict[tuple[str, str, int], int]:
    """(table, chain, rule number) to the 1-based line of that rule in the save text."""
    lines: dict[tuple[str, str, int], int] = {}
    counts: dict[tuple[str, str], int] = {}
    table = ""
    for number, line in enumerate(iptables_save.splitlines(), start=1):
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            chain = line.split()[1]
            counts[(table, chain)] = counts.get((table, chain), 0) + 1
            lines[(table, chain, counts[(table, chain)])] = number
    return lines


def differences(probe: dict[str, Any], kernel: KernelVerdict, answer: dict[str, Any],
                lines: dict[tuple[str, str, int], int]) -> list[str]:
    """How Segscope's answer differs from the kernel's verdict (empty when they agree)."""
    reasons = []
    if answer.get("verdict") != kernel.verdict:
        reasons.append(f"verdict {answer.get('verdict')} != kernel {kernel.verdict}")
    decided = answer.get("decided_by") or {}
    wanted = kernel.decided_by
    keys = ("table", "chain", "rule_number", "policy")
    if {k: decided.get(k) for k in keys} != {k: wanted.get(k) for k in keys}:
        reasons.append("decided_by differs")
    elif "rule_number" in wanted and decided.get("line") is not None:
        line = lines.get((wanted["table"], wanted["chain"], wanted["rule_number"]))
        if decided.get("line") != line:
            reasons.append(f"line {decided.get('line')} != {line} in the save file")
    got, want = _nat_key(answer.get("nat"), probe), _nat_key(kernel.nat, probe)
    if got is not None and want is not None:
        # MASQUERADE takes the outgoing interface's address, which the dumps do not hold:
        # Segscope says so with a null source, and that is not a disagreement.
        unknown = {key for key, value in (answer.get("nat") or {}).items() if value is None}
        got = tuple(w if key in unknown else g
                    for key, g, w in zip(NAT_KEYS, got, want, strict=True))
    if got != want:
        reasons.append(f"nat {answer.get('nat')} != kernel {kernel.nat}")
    return reasons


def _among_possible(kernel: KernelVerdict, answer: dict[str, Any]) -> bool:
    keys = ("table", "chain", "rule_number", "policy")
    wanted = (kernel.verdict, {k: kernel.decided_by.get(k) for k in keys})
    return not answer.get("decided_by") and any(
        (p.get("verdict"), {k: (p.get("decided_by") or {}).get(k) for k in keys}) == wanted
        for p in answer.get("possible") or ())


def _nat_key(nat: dict[str, Any] | None, probe: dict[str, Any]) -> tuple[Any, ...] | None:
    """A translation as (dst, dport, src, sport), untranslated parts being the probe's own."""
    if not nat:
        return None
    return tuple(nat[key] if nat.get(key) is not None else probe.get(key) for key in NAT_KEYS)


def run_differential(lab: Lab, generated: GeneratedRuleset) -> Outcome:
    """Kernel and Segscope on every probe of `generated`; agreements counted, rest kept."""
    loaded = load_kernel(lab, generated)
    segscope = SegscopeRun(loaded, [fields for fields, _ in generated.probes])
    pairs = [(fields["in_iface"], probe) for fields, probe in generated.probes]
    try:
        kernel = observe(lab, pairs, loaded)
    except MonitorLost:
        # Rare, on a loaded machine: start over (fresh conntrack) and send one probe at a time.
        loaded = load_kernel(lab, generated)
        kernel = observe(lab, pairs, loaded, chunk=1)
    answers = segscope.answers()
    lines = rule_lines(loaded.iptables_save)
    outcome = Outcome(generated, loaded)
    problems = []
    for fields, probe in generated.probes:
        result = kernel[probe.ip_id]
        if isinstance(result, TraceError):
            problems.append(f"probe {fields['id']} {json.dumps(fields)}: {result}")
            continue
        outcome.verdicts[result.verdict] = outcome.verdicts.get(result.verdict, 0) + 1
        reasons = differences(fields, result, answers[fields["id"]], lines)
        if reasons:
            answer = answers[fields["id"]]
            outcome.disagreements.append(Disagreement(
                fields, result, answer, tuple(reasons), _among_possible(result, answer)))
        else:
            outcome.agreed += 1
    if problems:
        raise LabError(f"seed {generated.seed}: the kernel's trace is unusable for "
                       f"{len(problems)} probes:\n" + "\n".join(problems[:3]))
    return outcome


def kernel_verdicts(lab: Lab, iptables: str, probes: list[tuple[str, Probe]], ipset: str = "",
                    connections: tuple[Probe, ...] = ()) -> dict[int, KernelVerdict]:
    """The kernel's verdicts for hand-written rules, by IP id; a broken trace raises."""
    loaded = lab.load(iptables, ipset)
    for probe in connections:
        lab.add_connection(probe)
    results = observe(lab, probes, loaded)
    for result in results.values():
        if isinstance(result, TraceError):
            raise result
    return {ip_id: result for ip_id, result in results.items()
            if isinstance(result, KernelVerdict)}


def lab_probe(fields: dict[str, Any], ip_id: int) -> Probe:
    """The packet the lab sends for a probe in the CLI's format (hand-written reproductions)."""
    state = fields.get("ct_state", "NEW")
    flags = fields.get("tcp_flags") or ("SYN" if state == "NEW" else "ACK")
    return Probe(ip_id=ip_id, src=fields["src"], dst=fields["dst"], proto=fields["proto"],
                 sport=fields.get("sport", 0), dport=fields.get("dport", 0),
                 tcp_flags=tcp_flag_bits(flags), icmp_type=fields.get("icmp_type", 8),
                 icmp_id=ip_id)


def reproduce(lab: Lab, iptables: str, ipset: str, probes: list[dict[str, Any]]
              ) -> list[tuple[dict[str, Any], KernelVerdict, dict[str, Any]]]:
    """Hand-written rules and probes through the kernel and the CLI, side by side."""
    packets = [lab_probe(fields, index + 1) for index, fields in enumerate(probes)]
    established = tuple(p for f, p in zip(probes, packets, strict=True)
                        if f.get("ct_state") == "ESTABLISHED")
    kernel = kernel_verdicts(lab, iptables, [(f["in_iface"], p) for f, p in
                                             zip(probes, packets, strict=True)], ipset, established)
    answers = SegscopeRun(lab.loaded_ruleset(), probes).answers()
    return [(fields, kernel[packet.ip_id], answers[fields["id"]])
            for fields, packet in zip(probes, packets, strict=True)]
