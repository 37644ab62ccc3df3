"""Destinations that rules treat alike share one evaluation.

Two workloads whose reachable rules read the same once the workload's own interface is taken
out (a control plane writes the same chain for every member of a segment), on hosts whose sets
they look up hold the same members and whose base chains have the same policies, get the same
verdict for every source class and port. Only the evidence differs: the same rule sits at another
number and line, with other counters, on the other host. `translate` maps it there."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from webapp.engine.analysis.reach import Relevant
from webapp.engine.analysis.verdicts import Evidence, PathVerdicts, RuleDirectory
from webapp.engine.explanation import Decision
from webapp.engine.host import HostRules
from webapp.engine.iptables.compile import CompiledRule

_PLACEHOLDER = "\0"


@dataclass(slots=True)
class Template:
    """An evaluated destination: its per-class verdicts, and where its evidence came from
    (the reachable rules in walk order, on the host whose directory names them). Verdicts are
    also kept by class signature, so that a new address index (workloads started or stopped)
    needs evaluations only for classes that gain their first member."""

    partition: Any
    verdicts: list[PathVerdicts]
    ordered: tuple[CompiledRule, ...]
    directory: RuleDirectory
    version: int
    by_signature: dict[frozenset[Hashable], PathVerdicts]


class HostDigests:
    """Per host, what keys need: a digest of each set's members, base chain policies."""

    def __init__(self, rules: HostRules) -> None:
        self.rules = rules
        self._sets: dict[str, str] = {}
        self._policies: dict[int, tuple[tuple[str, str, str | None], ...]] = {}

    def set_digest(self, name: str) -> str:
        found = self._sets.get(name)
        if found is None:
            dump = self.rules.ipsets
            ipset = dump.sets.get(name) if dump is not None else None
            digest = hashlib.sha256()
            if ipset is not None:
                digest.update(ipset.set_type.encode())
                for member in sorted(" ".join(map(str, m.values)) + ("!" if m.nomatch else "")
                                     for m in ipset.members):
                    digest.update(member.encode() + b"\n")
            found = self._sets[name] = digest.hexdigest()
        return found

    def policies(self, family: int) -> tuple[tuple[str, str, str | None], ...]:
        found = self._policies.get(family)
        if found is None:
            compiled = self.rules.iptables.get(family)
            found = tuple(sorted((table, chain.name, chain.policy)
                                 for table, chains in (compiled.tables.items() if compiled
                                                       else ())
                                 for chain in chains.values() if chain.policy is not None))
            self._policies[family] = found
        return found


def shape_key(digests: HostDigests, relevant: Relevant, own: tuple[str, ...],
              context: tuple[Hashable, ...]) -> Hashable | None:
    """A key equal for destinations that the reachable rules treat alike; None when there is
    no such sharing (every rule counts, as with nftables or destination NAT). `own` are the
    names (interface, chain suffix) that stand for the workload itself in its rules."""
    if relevant.ordered is None:
        return None
    names = [n for n in own if n]

    def plain(text: str) -> str:
        for name in names:
            text = text.replace(name, _PLACEHOLDER)
        return text

    rules = tuple((c.rule.table, plain(c.rule.chain), plain(_body(c.rule.text)))
                  for c in relevant.ordered)
    sets = tuple(sorted((name, digests.set_digest(name)) for name in relevant.atoms.sets))
    return (*context, rules, sets)


# Words that change no verdict and often name the workload itself: comments and log prefixes.
_INERT = re.compile(r'--(comment|nflog-prefix|log-prefix) ("(?:[^"\\]|\\.)*"|\S+)')


def _body(text: str) -> str:
    if text.startswith("["):
        text = text[text.index("]") + 1:].lstrip()
    return _INERT.sub(r"--\1 -", text)


def translate(template: Template, ordered: tuple[CompiledRule, ...], directory: RuleDirectory,
              family: int) -> list[PathVerdicts]:
    """The template's verdicts with evidence naming the same rules on another host."""
    return translate_verdicts(template.verdicts, template.ordered, ordered, directory, family)


def translate_verdicts(verdicts_list: list[PathVerdicts], source: tuple[CompiledRule, ...],
                       ordered: tuple[CompiledRule, ...], directory: RuleDirectory,
                       family: int) -> list[PathVerdicts]:
    """Verdicts whose evidence names rules of `source` (reachable rules in walk order), with
    evidence naming the rules at the same places of `ordered` instead."""
    position = {(c.rule.table, c.rule.chain, c.rule.number): i
                for i, c in enumerate(source)}
    cache: dict[Evidence, Evidence] = {}

    def moved(evidence: Evidence) -> Evidence:
        found = cache.get(evidence)
        if found is not None:
            return found
        if evidence.policy or evidence.rule_number is None:
            decision = (Decision(evidence.table, evidence.chain, policy=True)
                        if evidence.policy else None)
        else:
            index = position[(evidence.table, evidence.chain, evidence.rule_number)]
            rule = ordered[index].rule
            decision = Decision(rule.table, rule.chain, rule.number, rule.line)
        found = cache[evidence] = directory.evidence(family, evidence.hook, evidence.verdict,
                                                     decision, evidence.note)
        return found

    out = []
    for verdicts in verdicts_list:
        out.append(PathVerdicts(
            verdicts.allowed,
            tuple((moved(e), p) for e, p in verdicts.accepted_by),
            tuple((moved(e), p) for e, p in verdicts.denied_by)))
    return out
