"""Evaluate a packet through a compiled host exactly as netfilter would, with a full trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from webapp.engine.explanation import Decision, Explanation, Outcome, TraceStep
from webapp.engine.iptables.compile import CompiledChain, CompiledRule, CompiledRuleset
from webapp.engine.packet import Packet, PacketState
from webapp.engine.values import format_address

# The netfilter hooks a packet crosses on each path through a host.
PATHS: dict[str, tuple[str, ...]] = {
    "INPUT": ("PREROUTING", "INPUT"),
    "FORWARD": ("PREROUTING", "FORWARD", "POSTROUTING"),
    "OUTPUT": ("OUTPUT", "POSTROUTING"),
}
# iptables tables as base chains: their priorities on each hook (nat's depends on the hook).
TABLE_PRIORITY = {"raw": -300, "mangle": -150, "filter": 0, "security": 50}
NAT_PRIORITY = {"PREROUTING": -100, "OUTPUT": -100, "INPUT": 100, "POSTROUTING": 100}
CONNTRACK_PRIORITY = -200
MAX_PATHS = 64
MAX_DEPTH = 64


class Fork(Exception):
    """Raised when a condition's outcome is unknown and no assumption covers it yet."""

    def __init__(self, key: tuple[object, ...], describes: str, choices: tuple[object, ...]):
        super().__init__(describes)
        self.key, self.describes, self.choices = key, describes, choices


class RuleLoopError(ValueError):
    """Chains that jump into each other without end (iptables-restore refuses such tables)."""


@dataclass(slots=True)
class EvalRun:
    """One walk through the host under a fixed set of assumptions about unknown conditions."""

    state: PacketState
    assumed: dict[tuple[object, ...], object]
    trace: list[TraceStep] = field(default_factory=list)
    decisions: list[tuple[str, int, Decision]] = field(default_factory=list)


class BaseChain(Protocol):
    """Anything attached to a netfilter hook: an iptables table's chain or an nft base chain."""

    hook: str
    priority: int
    is_nat: bool

    def run(self, run: EvalRun, at: str, trace: bool) -> tuple[str, Decision]:
        """Walk the chain: ACCEPT ends only this base chain; DROP and REJECT end the packet."""
        ...


@dataclass(slots=True)
class IptablesBaseChain:
    """One iptables table's built-in chain as a base chain on its hook."""

    chains: dict[str, CompiledChain]
    chain: CompiledChain
    hook: str
    priority: int
    is_nat: bool
    registered: int = 0  # place among base chains in an nft listing of the host, if known

    def run(self, run: EvalRun, at: str, trace: bool) -> tuple[str, Decision]:
        return _run_chain(self.chains, self.chain, run, at, trace)


def iptables_base_chains(compiled: CompiledRuleset,
                         registration: dict[tuple[str, str, str], int] | None = None
                         ) -> list[BaseChain]:
    """The built-in chains of every table, each with the priority its table registers at and,
    when the host's nft listing is known, its place in it (iptables-nft tables are nft's)."""
    family = "ip" if compiled.family == 4 else "ip6"
    out: list[BaseChain] = []
    for table, chains in compiled.tables.items():
        for hook in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"):
            if hook not in chains or chains[hook].policy is None:
                continue
            priority = NAT_PRIORITY[hook] if table == "nat" else TABLE_PRIORITY.get(table, 0)
            registered = (registration or {}).get((family, table, hook), 0)
            out.append(IptablesBaseChain(chains, chains[hook], hook, priority, table == "nat",
                                         registered))
    return out


def explain(compiled: CompiledRuleset | list[BaseChain], packet: Packet, hook: str = "INPUT",
            local_addresses: frozenset[int] | None = None, trace: bool = True) -> Explanation:
    """The verdict for `packet` on `hook` (INPUT, FORWARD or OUTPUT) with its trace."""
    hook = hook.upper()
    if hook not in PATHS:
        raise ValueError(f"unknown hook {hook!r}: use INPUT, FORWARD or OUTPUT")
    if isinstance(compiled, CompiledRuleset):
        if packet.family != compiled.family:
            raise ValueError(f"probe {packet.id!r} is IPv{packet.family}; the rules are "
                             f"IPv{compiled.family}")
        base_chains = iptables_base_chains(compiled)
    else:
        base_chains = compiled
    by_hook = {at: sorted((b for b in base_chains if b.hook == at), key=_hook_order)
               for at in PATHS[hook]}
    start = PacketState.from_packet(packet, hook, local_addresses)
    if any(isinstance(b, IptablesBaseChain) and b.is_nat for b in base_chains):
        start.extra["nat_core"] = True  # nft's `ct status` then sees the NAT core's bits
    pending: list[dict[tuple[object, ...], object]] = [{}]
    finished: list[tuple[str, Decision | None, EvalRun, tuple[str, ...]]] = []
    descriptions: dict[tuple[object, ...], str] = {}
    truncated = False
    while pending:
        assumed = pending.pop()
        run = EvalRun(start.copy(), assumed)
        try:
            verdict, decision = _walk(by_hook, run, hook, trace)
        except Fork as fork:
            descriptions[fork.key] = fork.describes
            if len(finished) + len(pending) + len(fork.choices) > MAX_PATHS:
                truncated = True
                continue
            for choice in reversed(fork.choices):
                pending.append({**assumed, fork.key: choice})
            continue
        finished.append((verdict, decision, run, _assumptions(assumed, descriptions)))
    return _summarise(finished, truncated, tuple(descriptions.values()))


def _assumptions(assumed: dict[tuple[object, ...], object],
                 descriptions: dict[tuple[object, ...], str]) -> tuple[str, ...]:
    out = []
    for key, choice in assumed.items():
        text = descriptions.get(key, str(key))
        if choice is True:
            out.append(f"{text} matches")
        elif choice is False:
            out.append(f"{text} does not match")
        else:
            out.append(f"{text} gives {choice}")
    return tuple(out)


def _summarise(finished: list[tuple[str, Decision | None, EvalRun, tuple[str, ...]]],
               truncated: bool, depends: tuple[str, ...]) -> Explanation:
    if not finished:
        return Explanation("UNKNOWN", None, notes=("too many unknown conditions to explore",))
    verdict, decision, run, _ = finished[0]
    nat = _nat_summary(run.state)
    if len(finished) == 1 and not truncated:
        return Explanation(verdict, decision, tuple(run.trace), nat)
    possible = tuple(Outcome(v, d, a, _nat_summary(r.state)) for v, d, r, a in finished)
    verdicts = {o.verdict for o in possible}
    same_verdict = len(verdicts) == 1 and not truncated
    # The translation is stated only when no unknown condition changes it (a kube-proxy
    # service picks its endpoint at random: each possibility then carries its own).
    same_nat = all(o.nat == nat for o in possible) and not truncated
    final = verdict if same_verdict else "UNKNOWN"
    deciders = {o.decided_by for o in possible}
    notes = ("some conditions were not explored: too many unknowns",) if truncated else ()
    return Explanation(final, decision if same_verdict and len(deciders) == 1 else None,
                       tuple(run.trace) if same_verdict else (), nat if same_nat else None,
                       possible, depends, notes)


def _nat_summary(state: PacketState) -> dict[str, object] | None:
    nat = state.extra.get("nat")
    if not nat:
        return None
    out: dict[str, object] = {}
    all_notes: list[str] = []
    for field_name, (address, port, notes) in nat.items():
        out[field_name] = format_address(state.family, address) if address is not None else None
        out["dport" if field_name == "dst" else "sport"] = port
        all_notes.extend(notes)
    if all_notes:
        out["notes"] = all_notes
    return out


def _walk(by_hook: dict[str, list[BaseChain]], run: EvalRun, hook: str, trace: bool
          ) -> tuple[str, Decision | None]:
    state = run.state
    for at in PATHS[hook]:
        state.extra["at"] = at
        if at == "FORWARD":
            state.ttl -= 1  # ip_forward lowers the TTL before the FORWARD hook
        state.ct_attached = False if at in ("PREROUTING", "OUTPUT") else True
        for base in by_hook[at]:
            if base.priority > CONNTRACK_PRIORITY:
                state.ct_attached = True
            if base.is_nat and (state.ct_state != "NEW" or state.untracked
                                or nat_bound(state, at)):
                # Only a connection's first packet traverses nat chains, and the NAT core
                # stops at the first chain that makes a binding.
                continue
            verdict, decision = base.run(run, at, trace)
            run.decisions.append((at, base.priority, decision))
            if verdict != "ACCEPT":
                return verdict, decision
    return "ACCEPT", _accepting_decision(run, hook)


def _hook_order(base: BaseChain) -> tuple[int, int, int]:
    """Priority (NAT chains by their own within the NAT core); at equal priority the chain
    registered last runs first, as the kernel inserts it before its equals."""
    return (base.priority, getattr(base, "chain_priority", base.priority),
            -getattr(base, "registered", 0))


def nat_bound(state: PacketState, at: str) -> bool:
    """Whether a NAT chain earlier on this hook already bound the connection."""
    return ("dst" if at in ("PREROUTING", "OUTPUT") else "src") in state.extra.get("nat", {})


def _accepting_decision(run: EvalRun, hook: str) -> Decision | None:
    """Who accepted: the last rule that accepted on the path's own hook, else the filter-priority
    policy there, else the last base chain crossed."""
    main = [(priority, d) for at, priority, d in run.decisions if at == hook]
    for _, decision in reversed(main):
        if not decision.policy:
            return decision
    for priority, decision in main:
        if priority == 0:
            return decision
    if main:
        return main[-1][1]
    return run.decisions[-1][2] if run.decisions else None


def _run_chain(chains: dict[str, CompiledChain], base: CompiledChain, run: EvalRun, at: str,
               trace: bool) -> tuple[str, Decision]:
    state = run.state
    steps = run.trace
    stack: list[tuple[CompiledChain, int, int]] = []
    chain = base
    rules = chain.rules
    cand = chain.index.candidates(state) if chain.index else (1 << len(rules)) - 1
    pos = 0
    while True:
        rest = cand >> pos
        if not rest:
            if stack:
                if trace:
                    steps.append(TraceStep("return", chain.table, chain.name, hook=at,
                                           note="end of chain"))
                chain, pos, cand = stack.pop()
                rules = chain.rules
                continue
            return _policy(base, steps, at, trace)
        pos += (rest & -rest).bit_length() - 1
        crule = rules[pos]
        if not _matches(crule, run, chain, pos):
            pos += 1
            continue
        action = crule.action
        kind = action.kind
        rule = crule.rule
        if kind == "unknown":
            choice = choose(run, ("target", chain.table, chain.name, pos),
                             f"{chain.table} {chain.name} rule {pos + 1} ({action.describes})",
                             ("continue", "ACCEPT", "DROP"))
            kind = "continue" if choice == "continue" else "verdict"
            verdict = None if choice == "continue" else str(choice)
        else:
            verdict = action.verdict
        note = action.effect(state) if action.effect is not None else None
        if trace:
            steps.append(TraceStep(
                "rule" if kind in ("verdict", "continue", "nat") else kind,
                chain.table, chain.name, pos + 1, rule.line, rule.text,
                verdict or ("ACCEPT" if kind == "nat" else None), rule.packets, rule.bytes,
                note, at))
        if kind == "continue":
            pos += 1
            continue
        decision = Decision(chain.table, chain.name, pos + 1, rule.line)
        if kind == "verdict":
            return str(verdict), decision
        if kind == "nat":
            return "ACCEPT", decision  # a NAT target ends its chain once the binding is made
        if kind == "return":
            if not stack:
                return _policy(base, steps, at, trace)
            chain, pos, cand = stack.pop()
            rules = chain.rules
            continue
        if len(stack) >= MAX_DEPTH:
            raise RuleLoopError(f"chains nest deeper than {MAX_DEPTH} at {chain.name}")
        if kind == "jump":
            stack.append((chain, pos + 1, cand))
        chain = chains[str(action.chain)]
        rules = chain.rules
        cand = chain.index.candidates(state) if chain.index else (1 << len(rules)) - 1
        pos = 0


def _policy(base: CompiledChain, steps: list[TraceStep], at: str, trace: bool
            ) -> tuple[str, Decision]:
    policy = base.policy or "ACCEPT"
    if trace:
        steps.append(TraceStep("policy", base.table, base.name, verdict=policy,
                               packets=base.packets, bytes=base.bytes, hook=at))
    return policy, Decision(base.table, base.name, policy=True)


def _matches(crule: CompiledRule, run: EvalRun, chain: CompiledChain, pos: int) -> bool:
    state = run.state
    for i, compiled in enumerate(crule.checks):
        result = compiled.check(state)
        if result is None:
            result = bool(choose(run, ("match", chain.table, chain.name, pos, i),
                                  f"{chain.table} {chain.name} rule {pos + 1} "
                                  f"({compiled.describes})", (True, False)))
        if not result:
            return False
    return True


def choose(run: EvalRun, key: tuple[object, ...], describes: str,
            choices: tuple[object, ...]) -> object:
    if key in run.assumed:
        return run.assumed[key]
    raise Fork(key, describes, choices)
