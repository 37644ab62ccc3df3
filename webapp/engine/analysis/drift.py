"""Drift: where the fleet's effective state differs from the intended policy, finding by finding.

Kinds: missing (intended, not allowed), excess (allowed, not intended), stale (a rule or set
member naming an address no live workload owns, or one now owned by a workload of another
segment), shadowed (a rule no packet can reach), unused (an accepting rule whose counters never
moved), foreign (a rule outside the managed chains that decides an outcome)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import (
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from collectors.intent import selector_matches
from collectors.iptables import Rule
from webapp.engine.analysis.fleet import Fleet, HostState, Workload
from webapp.engine.analysis.graph import FAMILIES, EffectiveGraph, PairVerdict
from webapp.engine.analysis.managed import rule_body
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.shadow import shadowed_rules
from webapp.engine.analysis.verdicts import Evidence, PathVerdicts

KINDS = ("missing", "excess", "stale", "shadowed", "unused", "foreign")
DEFAULT_MANAGED_PREFIXES = ("seg-",)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between the fleet and its intent, named as precisely as it can be."""

    kind: str
    host: str | None
    rule: Mapping[str, Any] | None = None
    set: str | None = None
    address: str | None = None
    src_segment: str | None = None
    dst_segment: str | None = None
    workloads: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    since: datetime | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "host": self.host,
            "rule": dict(self.rule) if self.rule is not None else None,
            "set": self.set, "address": self.address, "src_segment": self.src_segment,
            "dst_segment": self.dst_segment, "workloads": list(self.workloads),
            "ports": list(self.ports),
            "since": _iso(self.since),
        }
        if self.note:
            out["note"] = self.note
        return out

    def sort_key(self) -> tuple[Any, ...]:
        rule = self.rule or {}
        return (KINDS.index(self.kind), self.host or "", rule.get("table") or "",
                rule.get("chain") or "", rule.get("rule_number") or 0, self.set or "",
                self.address or "", self.workloads, self.ports)


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    text = at.isoformat()
    return text.replace("+00:00", "Z")


@dataclass(slots=True)
class DriftContext:
    """What drift needs beyond the graph: segments, history and when things began."""

    selectors: Mapping[str, Mapping[str, str]]
    intended: Mapping[tuple[str, str], PortSet] | None
    intent_since: datetime | None = None
    former_workloads: tuple[Workload, ...] = ()  # stopped before the fleet's time
    host_since: Callable[[str], datetime | None] = lambda host: None
    rule_zero_since: Callable[[str, Rule], datetime | None] = lambda host, rule: None
    managed_prefixes: tuple[str, ...] = DEFAULT_MANAGED_PREFIXES
    # Per host, rule bodies the control plane writes (a dict, or ControlPlaneRules: lazy).
    managed_rules: Mapping[str, Container[str]] = field(default_factory=dict)
    # The window over which counters must move: each host's packets of a rule at the window's
    # first snapshot (None: unknown), the window's start, and the connections flow logs saw
    # accepted in it, as (source, destination, protocol, port).
    counters_then: Callable[[str, Rule], int | None] = lambda host, rule: None
    window_start: Callable[[str], datetime | None] = lambda host: None
    observed: Iterable[tuple[str, str, str, int | None]] = ()
    # The part of `observed` with a source or destination among these workloads, read without
    # the rest (a store that can look connections up by address); None: filter `observed`.
    observed_touching: Callable[[frozenset[str]], Iterable[tuple[str, str, str, int | None]]
                                ] | None = None
    # Indexes over fleet-wide inputs, built by the first computation that needs them and
    # reused while their inputs are the same objects (see _cached).
    memo: dict[str, tuple[tuple[object, ...], Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class _Scope:
    """The hosts a computation reports on (None: all) and the names of their workloads."""

    hosts: frozenset[str] | None
    workloads: frozenset[str]

    @classmethod
    def of(cls, graph: EffectiveGraph, hosts: Collection[str] | None) -> _Scope:
        if hosts is None:
            return cls(None, frozenset())
        if isinstance(hosts, str):
            raise TypeError(f"hosts is a collection of host names, not {hosts!r}")
        chosen = frozenset(hosts)
        return cls(chosen, frozenset(w.name for host in chosen for w in graph.workloads_on(host)))

    def has(self, host: str | None) -> bool:
        return self.hosts is None or host in self.hosts


def compute_drift(graph: EffectiveGraph, context: DriftContext,
                  hosts: Collection[str] | None = None) -> list[Finding]:
    """Every finding, sorted by kind, host and rule; with `hosts`, only the findings naming
    one of them: the same as filtering the whole list, at a cost that follows those hosts'
    workloads, rules and pairs (after a first call has built the context's indexes)."""
    scope = _Scope.of(graph, hosts)
    fleet = graph.fleet
    findings: list[Finding] = []
    if context.intended is not None:
        findings.extend(_missing(graph, context, scope))
        findings.extend(_excess(graph, context, scope))
    traffic: list[Mapping[tuple[str, str, str, int], int]] = []

    def seen() -> Mapping[tuple[str, str, str, int], int]:
        # Read the flows only for a rule that has counters to compare (a host's table read
        # without -c has none).
        if not traffic:
            traffic.append(_traffic_by_rule(graph, _observed_in(context, scope)))
        return traffic[0]

    known = _addresses(fleet, context)
    host_addresses = {_canonical(a) for s in fleet.hosts.values() for a in s.addresses}
    # Host by host, each kind after the other: the rule decoding cache holds a host's rules,
    # not a fleet's. The sort below puts the kinds in their order; a kind keeps host order.
    for host in sorted(fleet.hosts):
        if not scope.has(host):
            continue
        state = fleet.hosts[host]
        findings.extend(_stale(host, state, context, known, host_addresses))
        findings.extend(_shadowed(state, context))
        findings.extend(_unused(state, context, seen))
    findings.extend(_foreign(graph, context, scope))
    if scope.hosts is not None:
        # A finding names the host whose rule decided it: the source's or the destination's
        # of its pair, so the pairs of the scope's workloads hold every one; others drop here.
        findings = [f for f in findings if scope.has(f.host)]
    return sorted(findings, key=Finding.sort_key)


def _cached(context: DriftContext, name: str, sources: tuple[object, ...],
            build: Callable[[], T]) -> T:
    """What `build` makes from `sources`, made once while the sources are the same objects."""
    found = context.memo.get(name)
    if found is not None and len(found[0]) == len(sources) and all(
            a is b for a, b in zip(found[0], sources, strict=True)):
        return found[1]
    value = build()
    context.memo[name] = (sources, value)
    return value


class _SegmentIndex:
    """Segment names by workload labels: selectors indexed by their (label, value) items, so
    that a workload is checked against the selectors it may match, not against all."""

    def __init__(self, selectors: Mapping[str, Mapping[str, str]]) -> None:
        self._selectors = selectors
        self._always = [name for name, selector in selectors.items() if not selector]
        self._by_item: dict[tuple[str, str], list[str]] = {}
        for name, selector in selectors.items():
            for item in selector.items():
                self._by_item.setdefault(item, []).append(name)
        self._known: dict[frozenset[tuple[str, str]], tuple[str, ...]] = {}

    def of(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """The names of the segments whose selector the labels match, sorted."""
        key = frozenset(labels.items())
        found = self._known.get(key)
        if found is None:
            candidates = set(self._always)
            for item in key:
                candidates.update(self._by_item.get(item, ()))
            found = self._known[key] = tuple(sorted(
                name for name in candidates
                if selector_matches(self._selectors[name], labels)))
        return found


def _segments(context: DriftContext) -> _SegmentIndex:
    found = context.memo.get("segments")
    if found is not None and found[0][0] is context.selectors:  # the common case, made quick
        return found[1]
    return _cached(context, "segments", (context.selectors,),
                   lambda: _SegmentIndex(context.selectors))


def _segment(context: DriftContext, workload: Workload | None) -> str | None:
    if workload is None:
        return None
    names = _segments(context).of(workload.labels)
    return ",".join(names) if names else None


def _later(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


class _Difference:
    """`a - b` of port sets, computed once per pair of objects (port sets repeat: interned)."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], tuple[PortSet, PortSet, PortSet]] = {}

    def __call__(self, a: PortSet, b: PortSet) -> PortSet:
        found = self._known.get((id(a), id(b)))
        if found is not None and found[0] is a and found[1] is b:
            return found[2]
        result = a - b
        self._known[(id(a), id(b))] = (a, b, result)  # holding a and b keeps their ids theirs
        return result


def _intended_keys(context: DriftContext, scope: _Scope) -> list[tuple[str, str]]:
    """The intended pairs to judge, sorted: all, or those with a workload of the scope."""
    assert context.intended is not None
    intended = context.intended
    if scope.hosts is None:
        return sorted(intended)

    def index() -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for key in intended:
            out.setdefault(key[0], []).append(key)
            if key[1] != key[0]:
                out.setdefault(key[1], []).append(key)
        return out

    # The intended pairs are the whole intent's: indexed by workload once per context.
    by_workload = _cached(context, "intended", (intended,), index)
    return sorted({key for name in scope.workloads for key in by_workload.get(name, ())})


def _missing(graph: EffectiveGraph, context: DriftContext, scope: _Scope) -> Iterator[Finding]:
    assert context.intended is not None
    minus = _Difference()
    for src, dst in _intended_keys(context, scope):
        wanted = context.intended[(src, dst)]
        if src not in graph.workloads or dst not in graph.workloads:
            continue
        pair = graph.pairs.get((src, dst))
        lacking = minus(wanted, pair.allowed) if pair is not None else wanted
        if not lacking:
            continue
        verdict = graph.pair(src, dst) if pair is None else pair
        blockers = verdict.blocking(lacking)
        source, destination = graph.workloads[src], graph.workloads[dst]
        if not blockers:
            yield _pair_finding("missing", destination.host, None, context, source, destination,
                                lacking, graph)
            continue
        for evidence, ports in _merge(blockers):
            yield _pair_finding("missing", evidence.host, evidence, context, source,
                                destination, ports, graph)


def _allowed_pairs(graph: EffectiveGraph, scope: _Scope) -> Iterator[PairVerdict]:
    """Allowed pairs sorted by source then destination: all, or those into the scope's
    workloads (excess names the destination's host: its ingress decided)."""
    if scope.hosts is None:
        yield from graph.edges()
        return
    into = graph._into
    keys = sorted((src, dst) for dst in scope.workloads for src in into.get(dst, ()))
    for src, dst in keys:
        yield into[dst][src]


def _excess(graph: EffectiveGraph, context: DriftContext, scope: _Scope) -> Iterator[Finding]:
    assert context.intended is not None
    minus = _Difference()
    nothing = PortSet()
    for pair in _allowed_pairs(graph, scope):
        extra = minus(pair.allowed, context.intended.get((pair.src, pair.dst), nothing))
        if not extra:
            continue
        source, destination = graph.workloads[pair.src], graph.workloads[pair.dst]
        deciding = pair.ingress.deciding(extra, True)
        if not deciding:
            yield _pair_finding("excess", destination.host, None, context, source, destination,
                                extra, graph)
            continue
        for evidence, ports in _merge(deciding):
            yield _pair_finding("excess", evidence.host, evidence, context, source, destination,
                                ports, graph)


def _merge(items: Iterable[tuple[Evidence, PortSet]]) -> list[tuple[Evidence, PortSet]]:
    merged: dict[Evidence, PortSet] = {}
    for evidence, ports in items:
        merged[evidence] = merged[evidence] | ports if evidence in merged else ports
    return list(merged.items())


def _pair_finding(kind: str, host: str, evidence: Evidence | None, context: DriftContext,
                  src: Workload, dst: Workload, ports: PortSet,
                  graph: EffectiveGraph) -> Finding:
    since = _later(context.host_since(host), context.intent_since, src.started_at,
                   dst.started_at)
    note = evidence.note if evidence is not None else None
    return Finding(kind, host, evidence.rule_ref if evidence is not None else None, None, None,
                   _segment(context, src), _segment(context, dst), (src.name, dst.name),
                   tuple(ports.texts()), since, note)


# -- stale ------------------------------------------------------------------------------------

def _space(address: Any) -> Any:
    """The /24 (IPv4) or /64 (IPv6) network of an address."""
    prefix = 24 if address.version == 4 else 64
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def _networks(workloads: Iterable[Workload]) -> set[Any]:
    """The /24 (IPv4) or /64 (IPv6) networks the fleet's workloads have lived in."""
    return {_space(ipaddress.ip_address(text)) for w in workloads for text in w.addresses}


@dataclass(frozen=True, slots=True)
class _Addresses:
    """Who owns each address now and who owned it before, and the fleet's networks."""

    owners: dict[str, Workload]
    former: dict[str, list[Workload]]
    spaces: set[Any]


def _addresses(fleet: Fleet, context: DriftContext) -> _Addresses:
    def build() -> _Addresses:
        owners: dict[str, Workload] = {}
        for workload in fleet.workloads:
            for text in workload.addresses:
                owners[str(ipaddress.ip_address(text))] = workload
        former: dict[str, list[Workload]] = {}
        for workload in context.former_workloads:
            for text in workload.addresses:
                former.setdefault(str(ipaddress.ip_address(text)), []).append(workload)
        return _Addresses(owners, former,
                          _networks((*fleet.workloads, *context.former_workloads)))

    # Whose an address is needs every workload, live or gone: indexed once per workloads.
    return _cached(context, "addresses", (fleet.workloads, context.former_workloads), build)

def _rule_addresses(state: HostState) -> Iterator[tuple[str, dict[str, Any]]]:
    """(address, rule ref) for every single address a host's rules name."""
    if state.rules is None:
        return
    for ruleset in state.rules.rulesets.values():
        for rule in ruleset.rules():
            for opt in rule.spec.base:
                if opt.name in ("source", "destination"):
                    for text in opt.value.split(","):
                        address = _single_address(text)
                        if address is not None:
                            yield address, _rule_ref(rule)


def _host_sets(state: HostState) -> Iterator[tuple[object, str, Callable[[], list[str]]]]:
    """(set, name, its single-address members) for every ipset and nft set of a host; the
    members are read when called."""
    rules = state.rules
    if rules is None:
        return
    if rules.ipsets is not None:
        for ipset in rules.ipsets.sets.values():
            yield ipset, ipset.name, functools.partial(_ipset_members, ipset)
    if rules.nft is not None:
        for table in rules.nft.tables.values():
            for nset in table.sets.values():
                yield nset, nset.name, functools.partial(_nft_members, nset)


def _ipset_members(ipset: Any) -> list[str]:
    members = []
    for member in ipset.members:
        if member.nomatch:
            continue
        for value in member.values[:1]:
            address = _single_address(str(value))
            if address is not None:
                members.append(address)
    return members


def _nft_members(nset: Any) -> list[str]:
    return [a for a in (_single_address(str(e)) for e in nset.elements if isinstance(e, str))
            if a is not None]


@functools.lru_cache(maxsize=1 << 16)  # the same host addresses on every call
def _canonical(text: str) -> str:
    return str(ipaddress.ip_address(text))


@functools.lru_cache(maxsize=1 << 16)  # hosts name the same peers: parse each text once
def _single_address(text: str) -> str | None:
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        return None
    if network.num_addresses != 1:
        return None
    return str(network.network_address)


def _rule_ref(rule: Rule) -> dict[str, Any]:
    return {"table": rule.table, "chain": rule.chain, "rule_number": rule.number,
            "line": rule.line}



# Sets whose members' findings are remembered (see _set_suspects); past this many, forgotten.
SET_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class _Suspect:
    """An address a set names that is stale whatever the host: no live workload owns it
    (`owner` None) or `reason` says why its owner is the wrong one."""

    address: str
    previous: tuple[Workload, ...]
    owner: Workload | None
    reason: str | None


def _stale(host: str, state: HostState, context: DriftContext, known: _Addresses,
           host_addresses: Container[str]) -> Iterator[Finding]:
    """Addresses a host's rules or sets name that no live workload owns, or that a workload
    of another segment owns now."""
    seen: set[tuple[str, str, str]] = set()
    since = context.host_since(host)
    for address, rule in _rule_addresses(state):
        key = (address, repr(rule), "")
        if key in seen or address in host_addresses:
            continue
        seen.add(key)
        suspect = _suspect(context, known, address, [])
        if suspect is not None:
            yield _stale_finding(host, rule, None, suspect, since, context)
    for nset, name, members in _host_sets(state):
        for suspect in _set_suspects(context, known, nset, members):
            key = (suspect.address, "None", name)
            if key in seen or suspect.address in host_addresses:
                continue
            seen.add(key)
            yield _stale_finding(host, None, name, suspect, since, context)


def _set_suspects(context: DriftContext, known: _Addresses, nset: object,
                  read: Callable[[], list[str]]) -> list[_Suspect]:
    """The stale suspects among a set's members, worked out once per set object: a host's
    new rules mostly come with the same sets (parsed once, shared), whose thousands of members
    cost more than the rest of its drift."""
    segments = _segments(context)
    cache: dict[int, tuple[object, list[_Suspect]]] = _cached(
        context, "set-suspects", (known, segments), dict)
    found = cache.get(id(nset))
    if found is not None and found[0] is nset:
        return found[1]
    members = read()
    owners = known.owners
    owned = [(a, frozenset(segments.of(owners[a].labels))) for a in members if a in owners]
    suspects = [suspect for address in dict.fromkeys(members)
                if (suspect := _suspect(context, known, address, owned)) is not None]
    if len(cache) >= SET_CACHE_LIMIT:
        cache.clear()
    cache[id(nset)] = (nset, suspects)  # the set is kept with its entry: its id stays its own
    return suspects


def _suspect(context: DriftContext, known: _Addresses, address: str,
             members: list[tuple[str, frozenset[str]]]) -> _Suspect | None:
    """Whether an address a rule or set names is stale; `members` as _reused takes them."""
    owner = known.owners.get(address)
    previous = known.former.get(address, [])
    if owner is None:
        if not previous and _space(ipaddress.ip_address(address)) not in known.spaces:
            return None  # an address outside the fleet: not Segscope's to judge
        return _Suspect(address, tuple(previous), None, None)
    reason = _reused(context, owner, previous, members, address)
    return _Suspect(address, tuple(previous), owner, reason) if reason else None


def _stale_finding(host: str, rule: dict[str, Any] | None, set_name: str | None,
                   suspect: _Suspect, since: datetime | None,
                   context: DriftContext) -> Finding:
    previous, owner = suspect.previous, suspect.owner
    before = _segment(context, previous[-1] if previous else None)
    if owner is None:
        # A stopped workload's address is stale from its stop on, not from the host's rules:
        # until then its owner was live (as owner.started_at below).
        return Finding("stale", host, rule, set_name, suspect.address, before, None,
                       tuple(w.name for w in previous), (),
                       _later(since, *(w.stopped_at for w in previous)),
                       "no live workload owns this address")
    return Finding("stale", host, rule, set_name, suspect.address, before,
                   _segment(context, owner), (*(w.name for w in previous), owner.name), (),
                   _later(since, owner.started_at), suspect.reason)


def _reused(context: DriftContext, owner: Workload, previous: Sequence[Workload],
            members: list[tuple[str, frozenset[str]]], address: str) -> str | None:
    """Why an address a rule or set names now reaches the wrong workload, if it does;
    `members` are the owned addresses of its set with their owners' segments."""
    segments = _segments(context)
    mine = set(segments.of(owner.labels))
    for old in previous:
        theirs = set(segments.of(old.labels))
        if theirs and theirs != mine:
            return (f"address reused: named for {old.name} ({', '.join(sorted(theirs))}), now "
                    f"owned by {owner.name} ({', '.join(sorted(mine)) or 'no segment'})")
    others = [theirs for a, theirs in members if a != address]
    if len(others) >= 2:
        common = frozenset.intersection(*others)
        if common and not (common & mine):
            return (f"set members are {', '.join(sorted(common))}; this address is owned by "
                    f"{owner.name} ({', '.join(sorted(mine)) or 'no segment'})")
    return None


# -- shadowed, unused, foreign ----------------------------------------------------------------

def _shadowed(state: HostState, context: DriftContext) -> Iterator[Finding]:
    if state.rules is None:
        return
    for ruleset in state.rules.rulesets.values():
        for rule, reason in shadowed_rules(ruleset):
            yield Finding("shadowed", state.name, _rule_ref(rule), since=context.host_since(
                state.name), note=reason)


def _observed_in(context: DriftContext, scope: _Scope
                 ) -> Iterable[tuple[str, str, str, int | None]]:
    """The observed connections whose pair's rules may be on the scope's hosts (a pair's
    evidence is on its source's and its destination's host)."""
    if scope.hosts is not None and context.observed_touching is not None:
        return context.observed_touching(scope.workloads)

    def index() -> tuple[list[tuple[str, str, str, int | None]], dict[str, list[int]]]:
        connections = list(context.observed)  # read once: `observed` may be an iterator
        by_workload: dict[str, list[int]] = {}
        for position, (src, dst, _proto, _port) in enumerate(connections):
            by_workload.setdefault(src, []).append(position)
            if dst != src:
                by_workload.setdefault(dst, []).append(position)
        return connections, by_workload

    # The flows are the fleet's: indexed by workload once per context.
    connections, by_workload = _cached(context, "observed", (context.observed,), index)
    if scope.hosts is None:
        return connections
    positions = sorted({p for name in scope.workloads for p in by_workload.get(name, ())})
    return [connections[p] for p in positions]

def _traffic_by_rule(graph: EffectiveGraph, observed: Iterable[tuple[str, str, str, int | None]]
                     ) -> dict[tuple[str, str, str, int], int]:
    """How many observed connections each accepting rule is the graph's evidence for."""
    counts: dict[tuple[str, str, str, int], int] = {}
    for src, dst, proto, port in observed:
        pair = graph.pairs.get((src, dst))
        if pair is None or not pair.allowed.contains(proto, port):
            continue
        ports = PortSet.of({proto: [(port or 0, port or 0)] if proto != "icmp" else [(0, 0)]})
        for evidence, _ in pair.evidence(ports):
            if evidence.rule_number is not None:
                key = (evidence.host, evidence.table, evidence.chain, evidence.rule_number)
                counts[key] = counts.get(key, 0) + 1
    return counts


def _unused(state: HostState, context: DriftContext,
            seen: Callable[[], Mapping[tuple[str, str, str, int], int]]) -> Iterator[Finding]:
    """Accepting rules that never matched, or whose counters stood still over the window while
    the flow logs show connections the graph says they accept."""
    if state.rules is None:
        return
    for ruleset in state.rules.rulesets.values():
        for rule in ruleset.rules():
            if rule.table != "filter" or rule.target != "ACCEPT" or rule.packets is None:
                continue
            if _is_state_rule(rule):
                continue
            if not rule.packets:
                yield Finding("unused", state.name, _rule_ref(rule),
                              since=context.rule_zero_since(state.name, rule),
                              note="counters never moved: no packet has matched this rule")
                continue
            flows = seen().get((state.name, rule.table, rule.chain, rule.number), 0)
            if flows and context.counters_then(state.name, rule) == rule.packets:
                yield Finding("unused", state.name, _rule_ref(rule),
                              since=context.window_start(state.name),
                              note=f"counters did not move while flow logs show {flows} "
                                   "connection(s) the graph says this rule accepts")


def _is_state_rule(rule: Rule) -> bool:
    return any(m.module in ("conntrack", "state") for m in rule.spec.matches)


def _managed(host: str, evidence: Evidence, context: DriftContext,
             targets: Mapping[tuple[str, str, str, int], Rule]) -> bool:
    if evidence.policy or any(evidence.chain.startswith(p) for p in context.managed_prefixes):
        return True
    rule = targets.get((host, evidence.table, evidence.chain, evidence.rule_number or 0))
    if rule is None:
        return True  # nft rules: their chains name their owner; not judged here
    if rule.target and any(rule.target.startswith(p) for p in context.managed_prefixes):
        return True
    return rule_body(rule) in context.managed_rules.get(host, frozenset())


def _scoped_pairs(graph: EffectiveGraph, scope: _Scope) -> Iterator[Iterable[PairVerdict]]:
    """The allowed pairs of the scope's workloads in groups: all pairs, or those into or out
    of the scope's workloads, each once."""
    if scope.hosts is None:
        for into in graph._into.values():
            yield into.values()
        return
    local = scope.workloads
    for dst in local:
        sources = graph._into.get(dst)
        if sources:
            yield sources.values()
    for src in local:
        yield [graph._into[dst][src] for dst in graph.destinations_from(src) if dst not in local]


def _foreign(graph: EffectiveGraph, context: DriftContext, scope: _Scope) -> Iterator[Finding]:
    """Deciding rules that no managed chain holds and the control plane would not write."""
    targets: dict[tuple[str, str, str, int], Rule] = {}
    for host, state in graph.fleet.hosts.items():
        if state.rules is None or not scope.has(host):
            continue
        for ruleset in state.rules.rulesets.values():
            for rule in ruleset.rules():
                targets[(host, rule.table, rule.chain, rule.number)] = rule
    decided: dict[Evidence, set[str]] = {}
    local = scope.workloads
    for sides in (graph._ingress, graph._egress):
        # A side is evaluated on its workload's host: its evidence is there.
        found = sides.values() if scope.hosts is None else [
            sides[family, name] for name in local for family in FAMILIES
            if (family, name) in sides]
        for side in found:
            for verdicts in side.verdicts:
                for evidence, _ports in (*verdicts.accepted_by, *verdicts.denied_by):
                    if scope.has(evidence.host):
                        decided.setdefault(evidence, set())
    # Pairs share their verdicts and port sets (interned): the accepting evidence of a
    # (verdicts, ports) is read once, and added where the pair by pair reading first met it.
    shared: dict[tuple[int, int], tuple[Evidence, ...]] = {}

    def accepting(verdicts: PathVerdicts | None, allowed: PortSet) -> tuple[Evidence, ...]:
        if verdicts is None:
            return ()
        key = (id(verdicts), id(allowed))  # both held by a pair of the graph: ids stay theirs
        found = shared.get(key)
        if found is None:
            found = shared[key] = tuple(e for e, _ in verdicts.deciding(allowed, True)
                                        if scope.has(e.host))
            for evidence in found:
                decided.setdefault(evidence, set())
        return found

    # Egress is decided on the source's host, ingress on the destination's: a side on a host
    # out of the scope has no evidence to give.
    whole = scope.hosts is None
    for group in _scoped_pairs(graph, scope):
        for pair in group:
            if whole or pair.src in local:
                accepting(pair.egress, pair.allowed)
            if whole or pair.dst in local:
                accepting(pair.ingress, pair.allowed)
    seen: set[tuple[str, str, str, int | None]] = set()
    chosen: list[Evidence] = []
    for evidence in sorted(decided, key=lambda e: (e.host, e.table, e.chain,
                                                   e.rule_number or 0)):
        key = (evidence.host, evidence.table, evidence.chain, evidence.rule_number)
        if key in seen or _managed(evidence.host, evidence, context, targets):
            continue
        seen.add(key)
        chosen.append(evidence)
    if chosen:
        wanted = set(chosen)
        for group in _scoped_pairs(graph, scope):
            for pair in group:
                for evidence in (
                        *(accepting(pair.egress, pair.allowed) if whole or pair.src in local
                          else ()),
                        *(accepting(pair.ingress, pair.allowed) if whole or pair.dst in local
                          else ())):
                    if evidence in wanted:
                        decided[evidence].update((pair.src, pair.dst))
    for evidence in chosen:
        yield Finding("foreign", evidence.host, evidence.rule_ref,
                      workloads=tuple(sorted(decided[evidence]))[:20],
                      since=context.host_since(evidence.host),
                      note=f"decides {evidence.verdict} outside the managed chains: "
                           f"{rule_body(targets[(evidence.host, evidence.table, evidence.chain, evidence.rule_number or 0)])}")  # noqa: E501
