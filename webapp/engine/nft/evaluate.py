"""nftables base chains as `BaseChain`s for `explain`: every base chain of the ip, ip6 and inet
families (and netdev ingress/egress) runs on its hook in priority order, with nft's semantics.

Conventions. A Decision names the table by its name and the family in `family`, with the rule's
1-based position in its chain as `rule_number`, its `handle`, and `line` None. TraceStep has no
family field, so its `table` is nft's own label, "inet filter"; its note starts "handle N".
NAT chains run where the kernel's NAT core runs them, at priority -100 (prerouting, output) or
100 (input, postrouting), in the order of their own priorities; once one has bound, the others
on that hook are skipped. Ingress chains run first on PREROUTING, egress chains last on
POSTROUTING, each only for packets on its devices.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from collectors.errors import ParseWarning
from collectors.nft import NftChain, NftRule, NftRuleset, iptables_nft_tables, parse_nft_json
from webapp.engine.evaluate import BaseChain, EvalRun, RuleLoopError, choose
from webapp.engine.explanation import Decision, TraceStep
from webapp.engine.nft.nat import nat_bound
from webapp.engine.nft.sets import SetResolver
from webapp.engine.nft.stmts import (
    CONTINUE,
    RuleContext,
    Step,
    Verdict,
    compile_statement,
    counters_of,
    verdict_of,
)

HOOKS = {"prerouting": "PREROUTING", "input": "INPUT", "forward": "FORWARD",
         "output": "OUTPUT", "postrouting": "POSTROUTING"}
NAT_CORE_PRIORITY = {"PREROUTING": -100, "OUTPUT": -100, "INPUT": 100, "POSTROUTING": 100}
# Ingress runs before every prerouting chain and egress after every postrouting one.
STAGE_OFFSET = 1 << 40
MAX_RULE_VISITS = 100_000
_FAMILIES = {"ip": (4,), "ip6": (6,), "inet": (4, 6), "netdev": (4, 6)}


@dataclass(slots=True)
class CompiledNftRule:
    """A rule's statements as steps, with its counters for the trace."""

    rule: NftRule
    steps: tuple[Step, ...]
    packets: int | None = None
    bytes: int | None = None


@dataclass(slots=True)
class CompiledNftChain:
    """A chain's rules in order."""

    family: str
    table: str
    name: str
    rules: list[CompiledNftRule]

    @property
    def label(self) -> str:
        return f"{self.family} {self.table}"


@dataclass(slots=True)
class NftBaseChain:
    """One nft base chain on a netfilter hook, run by `explain` among all base chains."""

    hook: str
    priority: int
    is_nat: bool
    chain: CompiledNftChain
    chains: dict[str, CompiledNftChain]
    policy: str
    chain_priority: int
    devices: tuple[str, ...] = ()
    stage: str = "hook"  # hook | ingress | egress
    nat_families: frozenset[int] = frozenset()  # IP versions with a NAT chain in the ruleset
    registered: int = 0  # place in the listing: at equal priority the later one runs first

    def run(self, run: EvalRun, at: str, trace: bool) -> tuple[str, Decision]:
        """Walk the chain: accept ends only this base chain; drop and reject end the packet."""
        state = run.state
        state.extra["nft_chain"] = (at, self.priority, self.is_nat,
                                    state.family in self.nat_families)
        if self.stage != "hook":
            iface = state.in_iface if self.stage == "ingress" else state.out_iface
            if (iface or "") not in self.devices:
                return _not_run(self, run)
        if self.is_nat and nat_bound(state, at):
            return _not_run(self, run)  # the NAT core stops at the first chain that binds
        return _walk_chain(self, run, at, trace)


def _not_run(base: NftBaseChain, run: EvalRun) -> tuple[str, Decision]:
    """A chain the packet does not enter. `explain` records a decision per base chain, so
    repeat the previous one: the choice of the deciding rule stays as if it were absent."""
    if run.decisions:
        return "ACCEPT", run.decisions[-1][2]
    chain = base.chain
    return "ACCEPT", Decision(chain.table, chain.name, policy=True, family=chain.family)


def _walk_chain(base: NftBaseChain, run: EvalRun, at: str, trace: bool) -> tuple[str, Decision]:
    steps = run.trace
    stack: list[tuple[CompiledNftChain, int]] = []
    chain, pos, visits = base.chain, 0, 0
    while True:
        if pos >= len(chain.rules):
            if not stack:
                return _policy(base, steps, at, trace)
            if trace:
                steps.append(TraceStep("return", chain.label, chain.name, hook=at,
                                       note="end of chain"))
            chain, pos = stack.pop()
            continue
        visits += 1
        if visits > MAX_RULE_VISITS:
            raise RuleLoopError(f"chains loop through {chain.label} {chain.name}")
        crule = chain.rules[pos]
        notes: list[str] = []
        verdict = _execute(crule, run, notes)
        if verdict is None:
            pos += 1
            continue
        verdict = _settle(verdict, run, chain, pos)
        kind = verdict.kind
        if trace:
            steps.append(_rule_step(chain, pos, crule, verdict, notes, at))
        if kind == "continue":
            pos += 1
            continue
        decision = Decision(chain.table, chain.name, pos + 1, None, family=chain.family,
                            handle=crule.rule.handle)
        if kind in ("ACCEPT", "DROP", "REJECT"):
            return kind, decision
        if kind == "nat":
            return "ACCEPT", decision  # the NAT statement ends its chain once bound
        if kind == "return":
            if not stack:
                return _policy(base, steps, at, trace)
            chain, pos = stack.pop()
            continue
        target = base.chains[str(verdict.target)]  # compile made jumps to missing chains unknown
        if kind == "jump":
            stack.append((chain, pos + 1))
        chain, pos = target, 0


def _execute(crule: CompiledNftRule, run: EvalRun, notes: list[str]) -> Verdict | None:
    for step in crule.steps:
        result = step(run, notes)
        if result is None:
            continue
        if result is False or result is True:
            return None
        return result
    return CONTINUE


def _settle(verdict: Verdict, run: EvalRun, chain: CompiledNftChain, pos: int) -> Verdict:
    """A verdict only a userspace program or an unmodelled statement gives: fork on it."""
    if verdict.kind not in ("unknown", "queue"):
        return verdict
    choices = ("ACCEPT", "DROP") if verdict.kind == "queue" else ("continue", "ACCEPT", "DROP")
    picked = choose(run, ("nft-verdict", chain.family, chain.table, chain.name, pos + 1),
                    f"{chain.label} {chain.name} rule {pos + 1} ({verdict.describes})", choices)
    return CONTINUE if picked == "continue" else Verdict(str(picked))


def _rule_step(chain: CompiledNftChain, pos: int, crule: CompiledNftRule, verdict: Verdict,
               notes: list[str], at: str) -> TraceStep:
    kind = verdict.kind
    step_kind = kind if kind in ("jump", "goto", "return") else "rule"
    shown = {"nat": "ACCEPT", "ACCEPT": "ACCEPT", "DROP": "DROP", "REJECT": "REJECT"}.get(kind)
    parts = [f"handle {crule.rule.handle}"] + notes
    if verdict.target:
        parts.append(f"{kind} {verdict.target}")
    return TraceStep(step_kind, chain.label, chain.name, pos + 1, None, crule.rule.text, shown,
                     crule.packets, crule.bytes, "; ".join(parts), at)


def _policy(base: NftBaseChain, steps: list[TraceStep], at: str, trace: bool
            ) -> tuple[str, Decision]:
    chain = base.chain
    if trace:
        steps.append(TraceStep("policy", chain.label, chain.name, verdict=base.policy, hook=at))
    return base.policy, Decision(chain.table, chain.name, policy=True, family=chain.family)


@dataclass(slots=True)
class NftCompiled:
    """A ruleset's base chains by IP version, and what could not be modelled."""

    base_chains: dict[int, list[NftBaseChain]] = field(default_factory=dict)
    warnings: list[ParseWarning] = field(default_factory=list)
    opaque: Counter[str] = field(default_factory=Counter)
    not_applied: list[str] = field(default_factory=list)
    # (family, table, chain) of every base chain, skipped tables too -> registration order.
    registration: dict[tuple[str, str, str], int] = field(default_factory=dict)


def compile_nft(ruleset: NftRuleset, skip_tables: Collection[tuple[str, str]] = (),
                ingress: bool = True) -> NftCompiled:
    """Compile every table whose base chains see routed IP packets (dormant ones excepted)."""
    # Compiling makes many closures, all tracked by the cyclic collector, whose passes over the
    # growing heap would take most of the time; nothing made here is garbage yet.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile_nft(ruleset, skip_tables, ingress)
    finally:
        if enabled:
            gc.enable()


def _compile_nft(ruleset: NftRuleset, skip_tables: Collection[tuple[str, str]],
                 ingress: bool) -> NftCompiled:
    out = NftCompiled(warnings=list(ruleset.warnings))
    # The listing is in creation order, which is the order base chains were registered.
    for (family, name), table in ruleset.tables.items():
        for chain in table.chains.values():
            if chain.is_base:
                out.registration[(family, name, chain.name)] = len(out.registration) + 1
    for (family, name), table in ruleset.tables.items():
        if (family, name) in skip_tables:
            continue
        base = [c for c in table.chains.values() if c.is_base]
        if not base:
            continue
        if table.dormant or family not in _FAMILIES:
            reason = "dormant table" if table.dormant else "not on the IP hooks of a routed packet"
            out.not_applied.extend(f"{table.label} {c.name} ({reason})" for c in base)
            continue
        resolver = SetResolver(table)
        chains = {c.name: _compile_chain(c, resolver, out, ruleset.filename)
                  for c in table.chains.values()}
        for chain in base:
            made = _base_chain(chain, chains, ingress)
            if made is None:
                out.not_applied.append(f"{table.label} {chain.name} (hook {chain.hook})")
                continue
            made.registered = out.registration[(family, name, chain.name)]
            for version in _FAMILIES[family]:
                out.base_chains.setdefault(version, []).append(made)
    nat = frozenset(v for v, listed in out.base_chains.items() if any(b.is_nat for b in listed))
    for listed in out.base_chains.values():
        # At equal priority the kernel runs the chain registered last first.
        listed.sort(key=lambda b: (b.priority, b.chain_priority, -b.registered))
        for made in listed:
            made.nat_families = nat
    for text in out.not_applied:
        out.warnings.append(ParseWarning(ruleset.filename, 1, f"base chain {text} not evaluated"))
    return out


def _base_chain(chain: NftChain, chains: dict[str, CompiledNftChain], ingress: bool
                ) -> NftBaseChain | None:
    own = chain.priority or 0
    policy = "DROP" if (chain.policy or "accept").lower() == "drop" else "ACCEPT"
    compiled = chains[chain.name]
    hook = HOOKS.get(str(chain.hook))
    if hook is not None and chain.family != "netdev":
        is_nat = chain.type == "nat" and hook in NAT_CORE_PRIORITY
        priority = NAT_CORE_PRIORITY[hook] if is_nat else own
        return NftBaseChain(hook, priority, is_nat, compiled, chains, policy, own)
    if ingress and chain.hook in ("ingress", "egress"):
        stage = str(chain.hook)
        hook = "PREROUTING" if stage == "ingress" else "POSTROUTING"
        priority = own - STAGE_OFFSET if stage == "ingress" else own + STAGE_OFFSET
        return NftBaseChain(hook, priority, False, compiled, chains, policy, own,
                            chain.devices, stage)
    return None


def _compile_chain(chain: NftChain, resolver: SetResolver, out: NftCompiled,
                   filename: str) -> CompiledNftChain:
    rules = []
    for rule in chain.rules:
        ctx = RuleContext(chain.family, chain.table, chain.name, rule.position, resolver,
                          out.opaque)
        before = sum(out.opaque.values())
        steps = tuple(compile_statement(stmt, i, ctx) for i, stmt in enumerate(rule.expr))
        for stmt in rule.expr:
            for target in _jump_targets(stmt, resolver):
                if target not in resolver.table.chains:
                    out.warnings.append(ParseWarning(
                        filename, rule.line, f"{chain.family} {chain.table} {chain.name} rule "
                        f"{rule.position}: jump to missing chain {target}"))
        if sum(out.opaque.values()) > before:
            out.warnings.append(ParseWarning(
                filename, rule.line, f"{chain.family} {chain.table} {chain.name} rule "
                f"{rule.position} (handle {rule.handle}): outcome depends on what Segscope "
                f"cannot see: {rule.text}"))
        packets, byte_count = counters_of(rule.expr)
        rules.append(CompiledNftRule(rule, steps, packets, byte_count))
    return CompiledNftChain(chain.family, chain.table, chain.name, rules)


def _jump_targets(stmt: object, resolver: SetResolver) -> list[str]:
    """Chains a statement may jump or go to (directly or through a verdict map)."""
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return []
    kind, body = next(iter(stmt.items()))
    if kind in ("jump", "goto") and isinstance(body, dict):
        return [str(body.get("target"))]
    if kind != "vmap" or not isinstance(body, dict):
        return []
    data = body.get("data")
    items: list[object] = []
    if isinstance(data, str) and data.startswith("@") and data[1:] in resolver.table.sets:
        items = list(resolver.table.sets[data[1:]].elements)
    elif isinstance(data, dict) and isinstance(data.get("set"), list):
        items = data["set"]
    targets = []
    for item in items:
        if isinstance(item, list) and len(item) == 2:
            try:
                target = verdict_of(item[1]).target
            except ValueError:
                continue
            if target:
                targets.append(target)
    return targets


def nft_base_chains(ruleset: NftRuleset, family: int,
                    skip_tables: Collection[tuple[str, str]] = ()) -> list[BaseChain]:
    """The base chains an IPv`family` packet crosses, for `explain(chains + ..., packet, hook)`."""
    return list(compile_nft(ruleset, skip_tables).base_chains.get(family, []))


def nft_base_chains_from_json(text: str, filename: str = "<input>",
                              skip_tables: Collection[tuple[str, str]] = ()
                              ) -> tuple[dict[int, list[BaseChain]], list[ParseWarning]]:
    """Parse `nft -j list ruleset` output and compile it: base chains by IP version (4, 6) and
    warnings; malformed JSON raises ParseError."""
    ruleset = parse_nft_json(text, filename)
    compiled = compile_nft(ruleset, skip_tables)
    warnings = compiled.warnings
    for family, name in iptables_nft_tables(ruleset):
        if (family, name) not in skip_tables:
            warnings.append(ParseWarning(filename, 1, f"table {family} {name} looks made by "
                                         "iptables-nft: do not also load its iptables-save"))
    return {v: list(chains) for v, chains in compiled.base_chains.items()}, warnings
