"""The lab's control plane at work: render each host's rules from an intent and load them, one
host after another, as a distributed-ACL agent fleet does.

Loading is `ipset restore -exist` (every set re-created and flushed first, so that members that
left a segment go too) followed by `iptables-restore` of the filter table, then sets no rule
uses any more are destroyed. A host named as failing is skipped: it keeps the rules it had, a
convergence straggler, as a host whose agent crashed or lost its control-plane connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.controlplane import HostRules, render_host
from collectors.intent import Intent, IntentError, parse_intent
from collectors.inventory import InventoryError, load_document
from collectors.lab.fleet import FleetPlan, LabHost
from collectors.lab.netns import LabError, run

SET_PREFIX = "seg-"
DESTROY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What became of one host in a roll-out: the intent version it holds now."""

    host: str
    version: str
    applied: bool
    rules: int
    sets: int
    at: float
    error: str = ""

    def __str__(self) -> str:
        if self.applied:
            return f"{self.host}: intent {self.version} applied ({self.rules} rules, " \
                   f"{self.sets} sets)"
        return f"{self.host}: NOT applied ({self.error}); keeps its previous rules"


def load_intent(path: Path) -> tuple[Intent, str]:
    """An intent file and its text; its version is the file name without extension."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"cannot read intent {path}: {exc.strerror}") from None
    return parse_intent_text(text, str(path), path.stem), text


def parse_intent_text(text: str, filename: str, version: str) -> Intent:
    """An intent from YAML/JSON text; raises LabError naming the file."""
    try:
        return parse_intent(load_document(text, filename), filename, version)
    except (IntentError, InventoryError) as exc:
        raise LabError(str(exc)) from None


def ipset_restore_input(ipset_text: str) -> str:
    """The control plane's `ipset save` text made re-appliable: each set is flushed right after
    its (-exist) creation, so that the restore leaves exactly the rendered members."""
    lines = []
    for line in ipset_text.splitlines():
        lines.append(line)
        words = line.split()
        if len(words) >= 2 and words[0] == "create":
            lines.append(f"flush {words[1]}")
    return "\n".join(lines) + "\n" if lines else ""


def set_names(ipset_text: str) -> set[str]:
    """The sets an `ipset save` text creates."""
    return {line.split()[1] for line in ipset_text.splitlines()
            if line.startswith("create ") and len(line.split()) >= 2}


def render_fleet(plan: FleetPlan, intent: Intent, use_sets: bool) -> dict[str, HostRules]:
    """Every host's tables for `intent`, as the control plane renders them."""
    specs = plan.specs()
    return {host.name: render_host(host.name, intent, specs, use_sets) for host in plan.hosts}


def load_rules(host: LabHost, rules: HostRules) -> None:
    """Replace a host's segscope sets and its filter table with `rules`."""
    restore = ipset_restore_input(rules.ipset)
    if restore:
        run(["ipset", "restore", "-exist"], netns=host.netns, input=restore)
    run(["iptables-restore"], netns=host.netns, input=rules.iptables)
    wanted = set_names(rules.ipset)
    stale = set_names(run(["ipset", "save"], netns=host.netns)) - wanted
    for name in sorted(n for n in stale if n.startswith(SET_PREFIX)):
        _destroy_set(host.netns, name)


def _destroy_set(netns: str, name: str) -> None:
    # nf_tables drops the old rules' references to a set from a work queue after the restore:
    # the set may be busy for a moment. Poll within a deadline.
    deadline = time.monotonic() + DESTROY_TIMEOUT
    while True:
        try:
            run(["ipset", "destroy", name], netns=netns)
            return
        except LabError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def roll_out(plan: FleetPlan, intent: Intent, *, use_sets: bool = True, delay: float = 0.0,
             failing: Collection[str] = (),
             report: Callable[[ApplyResult], None] | None = None) -> list[ApplyResult]:
    """Render `intent` and load it on each host in turn, `delay` seconds apart; hosts in
    `failing` are skipped and keep their rules. Returns one result per host, in order."""
    unknown = set(failing) - {h.name for h in plan.hosts}
    if unknown:
        raise LabError(f"--fail-host names no host of this lab: {', '.join(sorted(unknown))}")
    rendered = render_fleet(plan, intent, use_sets)
    results: list[ApplyResult] = []
    for i, host in enumerate(plan.hosts):
        if i and delay > 0:
            # The roll-out's pace, simulated; nothing waits on it.
            time.sleep(delay)
        rules = rendered[host.name]
        rule_count = sum(1 for line in rules.iptables.splitlines() if line.startswith("-A "))
        if host.name in failing:
            result = ApplyResult(host.name, intent.version, False, rule_count, 0, time.time(),
                                 "simulated failure (--fail-host)")
        else:
            load_rules(host, rules)
            result = ApplyResult(host.name, intent.version, True, rule_count,
                                 len(set_names(rules.ipset)), time.time())
        results.append(result)
        if report is not None:
            report(result)
    return results


def loaded_rule_counts(hosts: Sequence[LabHost]) -> dict[str, int]:
    """How many iptables rules each host's kernel holds now."""
    return {host.name: sum(1 for line in run(["iptables-save"], netns=host.netns).splitlines()
                           if line.startswith("-A "))
            for host in hosts}
