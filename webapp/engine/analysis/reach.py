"""Which of a host's rules a packet to (or from) one workload can reach, and what they name.

For a destination workload the destination address and outgoing interface are fixed; rules
that cannot match them are never reached, and a rule that always matches them with a final
verdict (or a jump into a chain that always ends in one) hides everything after it. What the
remaining rules name is all that can tell two sources apart. Tables with destination NAT change
the destination mid-path, so there (and on nft hosts) every rule of the host counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.iptables import Match, Rule
from webapp.engine.analysis.atoms import (
    RuleAtoms,
    ipset_atoms,
    iptables_rule_atoms,
    merge_atoms,
    nft_atoms,
)
from webapp.engine.evaluate import PATHS
from webapp.engine.host import HostRules
from webapp.engine.iptables.compile import CompiledChain, CompiledRule, CompiledRuleset
from webapp.engine.values import interface_matches

_INTERFACE_MODULES = frozenset({"physdev", "devgroup"})
# Matches that read neither address of the packet (a source-side set lookup is partitioned).
_ADDRESS_BLIND = frozenset({"tcp", "udp", "sctp", "udplite", "dccp", "icmp", "icmp6",
                            "icmpv6", "multiport", "conntrack", "state", "comment", "mark",
                            "connmark", "length", "limit", "pkttype", "ttl", "hl", "tos",
                            "dscp", "mac", "ecn", "frag", "ah", "esp"})
_DESTINATION_NAT = frozenset({"DNAT", "REDIRECT", "NETMAP", "TPROXY"})
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Fixed:
    """Packet fields known for a whole evaluation; None means any value."""

    family: int
    hook: str
    src: int | None = None
    dst: int | None = None
    in_iface: str | None = None
    out_iface: str | None = None


@dataclass(slots=True)
class Relevant:
    """The atoms of the reachable rules, and whether interfaces tell sources apart.

    `ordered` holds the reachable rules in the order the walk met them; None when every rule of
    the host counts (destination NAT, nftables). `sets` are the ipsets they look up."""

    atoms: RuleAtoms
    in_patterns: tuple[tuple[str, bool], ...] = ()
    out_patterns: tuple[tuple[str, bool], ...] = ()
    interface_sensitive: bool = False
    ordered: tuple[CompiledRule, ...] | None = None
    address_sensitive: bool = False  # a reachable rule tests the fixed address beyond -s/-d


class HostReach:
    """Reachability and atoms over one host's compiled rules, cached per fixed fields."""

    def __init__(self, rules: HostRules) -> None:
        self.rules = rules
        self._rule_atoms: dict[int, RuleAtoms] = {}
        self._set_atoms: dict[str, RuleAtoms] = {}
        self._cache: dict[Fixed, Relevant] = {}
        self._everything: dict[int, Relevant] = {}

    def relevant(self, fixed: Fixed) -> Relevant:
        found = self._cache.get(fixed)
        if found is None:
            found = self._cache[fixed] = self._compute(fixed)
        return found

    def _compute(self, fixed: Fixed) -> Relevant:
        compiled = self.rules.iptables.get(fixed.family)
        if self.rules.nft_chains.get(fixed.family) or (
                compiled is not None and _has_destination_nat(compiled)):
            return self.everything(fixed.family)
        if compiled is None:
            return Relevant(RuleAtoms())
        walk = _Walk(self, compiled, fixed)
        for hook in PATHS[fixed.hook]:
            for chains in compiled.tables.values():
                base = chains.get(hook)
                if base is not None and base.policy is not None:
                    walk.chain(chains, base, 0)
        return walk.result()

    def everything(self, family: int) -> Relevant:
        """Every rule and set of the host: exact whatever the path does to the packet."""
        found = self._everything.get(family)
        if found is not None:
            return found
        parts = []
        compiled = self.rules.iptables.get(family)
        if compiled is not None:
            for chains in compiled.tables.values():
                for chain in chains.values():
                    for crule in chain.rules:
                        parts.append(self.rule_atoms(crule.rule))
        if self.rules.nft is not None:
            parts.append(nft_atoms(self.rules.nft))
        atoms = merge_atoms(parts)
        for name in list(atoms.sets):
            atoms.update(self.set_atoms(name))
        found = self._everything[family] = Relevant(atoms, interface_sensitive=True)
        return found

    def rule_atoms(self, rule: Rule) -> RuleAtoms:
        found = self._rule_atoms.get(id(rule))
        if found is None:
            found = self._rule_atoms[id(rule)] = iptables_rule_atoms(rule)
        return found

    def set_atoms(self, name: str) -> RuleAtoms:
        found = self._set_atoms.get(name)
        if found is None:
            dump = self.rules.ipsets
            found = ipset_atoms(dump, name) if dump is not None else RuleAtoms()
            self._set_atoms[name] = found
        return found


def _has_destination_nat(compiled: CompiledRuleset) -> bool:
    nat = compiled.tables.get("nat")
    if not nat:
        return False
    return any(r.rule.target in _DESTINATION_NAT for c in nat.values() for r in c.rules)


class _Walk:
    """One traversal from every base chain on a path, collecting what reachable rules name."""

    def __init__(self, reach: HostReach, compiled: CompiledRuleset, fixed: Fixed) -> None:
        self.reach, self.compiled, self.fixed = reach, compiled, fixed
        self.parts: list[RuleAtoms] = []
        self.in_patterns: set[tuple[str, bool]] = set()
        self.out_patterns: set[tuple[str, bool]] = set()
        self.sensitive = False
        self.address_sensitive = False
        self.ordered: list[CompiledRule] = []
        self.done: dict[tuple[int, str], bool] = {}

    def result(self) -> Relevant:
        atoms = merge_atoms(self.parts)
        for name in list(atoms.sets):
            set_atoms = self.reach.set_atoms(name)
            atoms.update(set_atoms)
            if self.reach.rules.ipsets is not None and _iface_set(self.reach, name):
                self.sensitive = True
        return Relevant(atoms, tuple(sorted(self.in_patterns)), tuple(sorted(self.out_patterns)),
                        self.sensitive, tuple(self.ordered), self.address_sensitive)

    def chain(self, chains: dict[str, CompiledChain], chain: CompiledChain, depth: int) -> bool:
        """Walk a chain; True when every packet with the fixed fields ends inside it."""
        key = (id(chains), chain.name)
        if key in self.done:
            return self.done[key]
        self.done[key] = False  # a loop back into a chain being walked ends nothing
        if depth > _MAX_DEPTH:
            return False
        ends = False
        for crule in chain.rules:
            if not self._may_match(crule):
                continue
            self._collect(crule)
            action = crule.action
            always = self._unconditional(crule)
            if action.kind in ("jump", "goto") and action.chain in chains:
                target_ends = self.chain(chains, chains[action.chain], depth + 1)
                if always and target_ends:
                    ends = True
                    break
                if always and action.kind == "goto":
                    break
            elif always and action.kind == "verdict":
                ends = True
                break
            elif always and action.kind == "return":
                break
        self.done[key] = ends
        return ends

    def _collect(self, crule: CompiledRule) -> None:
        self.ordered.append(crule)
        self.parts.append(self.reach.rule_atoms(crule.rule))
        if any(_reads_address(m) for m in crule.rule.spec.matches):
            self.address_sensitive = True
        if crule.in_iface is not None:
            self.in_patterns.add(crule.in_iface)
        if crule.out_iface is not None:
            self.out_patterns.add(crule.out_iface)
        if any(m.module in _INTERFACE_MODULES for m in crule.rule.spec.matches):
            self.sensitive = True

    def _may_match(self, crule: CompiledRule) -> bool:
        fixed = self.fixed
        for pred, value in ((crule.src, fixed.src), (crule.dst, fixed.dst)):
            if pred is not None and value is not None:
                net, mask, negated = pred
                if ((value & mask) == net) == negated:
                    return False
        for iface, name in ((crule.in_iface, fixed.in_iface),
                            (crule.out_iface, fixed.out_iface)):
            if iface is not None and name is not None:
                pattern, negated = iface
                if interface_matches(pattern, name) == negated:
                    return False
        return True

    def _unconditional(self, crule: CompiledRule) -> bool:
        """Whether the rule matches every packet with the fixed fields."""
        spec = crule.rule.spec
        if any(m.module != "comment" for m in spec.matches):
            return False
        fixed = self.fixed
        known = {"source": fixed.src, "destination": fixed.dst,
                 "in-interface": fixed.in_iface, "out-interface": fixed.out_iface}
        for opt in spec.base:
            if opt.name == "protocol" and opt.value == "all" and not opt.negated:
                continue
            if known.get(opt.name) is None:
                return False
        return True


def _reads_address(match: Match) -> bool:
    """Whether a match may answer differently for two destinations that -d cannot tell apart
    (a set looked up by source address is handled by the source classes instead)."""
    if match.module in _ADDRESS_BLIND:
        return any(o.name.startswith(("ctorig", "ctrepl")) for o in match.options)
    if match.module == "set":
        return any(o.name == "match-set" and "dst" in ",".join(o.args[1:])
                   for o in match.options)
    return True


def _iface_set(reach: HostReach, name: str) -> bool:
    dump = reach.rules.ipsets
    ipset = dump.sets.get(name) if dump is not None else None
    return ipset is not None and "iface" in ipset.set_type
