"""The effective graph: for every (source, destination) workload pair, the ports a NEW
connection is accepted on through every hook it crosses, with the deciding rules as evidence.

Per destination workload, the host's reachable rules partition the fleet's sources into
classes (classes.py); each class is evaluated once per port interval with the kernel-exact
engine, then expanded to its members and combined with each remote source's egress, itself
evaluated per class of destinations. Results are kept per host, so that a host's new snapshot
recomputes only what its rules decide (`update_host`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from webapp.engine.analysis.atoms import RuleAtoms
from webapp.engine.analysis.classes import AddressIndex, Partition, partition
from webapp.engine.analysis.destinations import (
    HostDigests,
    Template,
    shape_key,
    translate,
    translate_verdicts,
)
from webapp.engine.analysis.fleet import Fleet, HostState, Workload
from webapp.engine.analysis.ports import EMPTY, PortSet
from webapp.engine.analysis.reach import Fixed, HostReach, Relevant
from webapp.engine.analysis.verdicts import (
    NOTHING,
    OPEN,
    Evidence,
    PathVerdicts,
    RuleDirectory,
    evaluate_path,
)
from webapp.engine.values import parse_address

FAMILIES = (4, 6)


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """One workload pair: what is allowed, and each host's part in the answer."""

    src: str
    dst: str
    allowed: PortSet
    ingress: PathVerdicts
    egress: PathVerdicts | None = None  # None: one pass on a shared host decided both

    def evidence(self, ports: PortSet | None = None) -> list[tuple[Evidence, PortSet]]:
        """Accepting rules on each host crossed, per the ports they accepted."""
        wanted = self.allowed if ports is None else ports & self.allowed
        out = []
        if self.egress is not None:
            out.extend(self.egress.deciding(wanted, True))
        out.extend(self.ingress.deciding(wanted, True))
        return out

    def blocking(self, ports: PortSet) -> list[tuple[Evidence, PortSet]]:
        """The rules that deny some of `ports` (egress first, as the packet meets them)."""
        out = []
        if self.egress is not None:
            out.extend(self.egress.deciding(ports, False))
        out.extend(self.ingress.deciding(ports, False))
        return out


@dataclass(slots=True)
class _Side:
    """One host's decisions for one workload as destination (ingress) or source (egress)."""

    partition: Partition
    verdicts: list[PathVerdicts]
    individual: dict[str, PathVerdicts] = field(default_factory=dict)  # same-host peers

    def at(self, position: int) -> PathVerdicts:
        return self.verdicts[self.partition.class_of(position)]


class _HostEngine:
    """A host's compiled rules with its reachability cache and rule directory."""

    def __init__(self, state: HostState) -> None:
        self.state = state
        self.reach = HostReach(state.rules) if state.rules is not None else None
        self.directory = (RuleDirectory(state.name, state.rules)
                          if state.rules is not None else None)
        self.digests = HostDigests(state.rules) if state.rules is not None else None

    def path(self, family: int, hook: str, src: str, dst: str, in_iface: str | None,
             out_iface: str | None, fixed: Fixed) -> PathVerdicts:
        if self.state.rules is None or self.reach is None or self.directory is None:
            return OPEN  # no rules known: nothing filters
        if family not in self.state.rules.iptables and not self.state.rules.nft_chains.get(
                family):
            return OPEN
        atoms = self.reach.relevant(fixed).atoms
        return evaluate_path(self.state.name, self.state.rules, self.directory, family, hook,
                             src, dst, in_iface, out_iface, atoms)


class EffectiveGraph:
    """Workload-level effective graph of a fleet; `pairs` holds every pair allowed anything."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.workloads = {w.name: w for w in fleet.workloads}
        self.indexes: dict[int, AddressIndex] = {}
        self._engines: dict[str, _HostEngine] = {}
        self._ingress: dict[tuple[int, str], _Side] = {}
        self._egress: dict[tuple[int, str], _Side] = {}
        # Pairs by destination, then source (no key tuples: memory matters at two million
        # pairs); `pairs` reads them as one mapping. `_from` names each source's destinations,
        # so that a host's change meets its own pairs, not every destination of the fleet.
        self._into: dict[str, dict[str, PairVerdict]] = {}
        self._from: dict[str, set[str]] = {}
        self.pairs = PairMap(self._into)
        self.evaluations = 0
        self.shared_evaluations = 0  # destinations that took a like destination's answers
        self._templates: dict[Hashable, Template] = {}
        self._version = 0  # of the address index; templates re-cut their classes when it moves
        self._by_host: dict[str, list[Workload]] = {}
        self._combined: dict[tuple[int, int], PortSet] = {}
        self._keep: list[tuple[PortSet, PortSet]] = []
        self._build_indexes()

    # -- building -------------------------------------------------------------------------

    def _build_indexes(self) -> None:
        for family in FAMILIES:
            entries = []
            for workload in self.fleet.workloads:
                text = workload.address(family)
                if text is not None:
                    entries.append((parse_address(text)[1], text, workload.name))
            if entries:
                self.indexes[family] = AddressIndex.build(family, entries)
        self._position = {family: {name: i for i, name in enumerate(index.names)}
                          for family, index in self.indexes.items()}
        self._by_host = {}
        for workload in self.fleet.workloads:
            self._by_host.setdefault(workload.host, []).append(workload)

    def engine(self, host: str) -> _HostEngine:
        found = self._engines.get(host)
        if found is None:
            state = self.fleet.hosts.get(host) or HostState(host)
            found = self._engines[host] = _HostEngine(state)
        return found

    def compute(self) -> EffectiveGraph:
        """Evaluate every destination's ingress and combine it with its sources' egress."""
        self._into.clear()
        self._from.clear()
        for workload in self.fleet.workloads:
            self._combine_into(workload)
        self._through_services()
        return self

    def _through_services(self) -> None:
        # services.py reads the graph's answers; it is imported here to keep imports one-way.
        from webapp.engine.analysis.services import add_service_edges

        add_service_edges(self)

    def update_host(self, state: HostState) -> set[tuple[str, str]]:
        """A host's new snapshot: recompute what its rules decide; returns the pairs whose
        answer was recomputed (those with a workload on the host)."""
        return self.update_hosts([state])

    def update_hosts(self, states: Iterable[HostState]) -> set[tuple[str, str]]:
        """update_host for several hosts; what workloads reach through service addresses is
        worked out once, after all of them (it reads every host's nat table)."""
        touched: set[tuple[str, str]] = set()
        for state in states:
            touched |= self._update_rules(state)
        self._through_services()
        return touched

    def _update_rules(self, state: HostState) -> set[tuple[str, str]]:
        self.fleet.hosts[state.name] = state
        self._engines.pop(state.name, None)
        local = {w.name for w in self._by_host.get(state.name, ())}
        old_egress = {}
        for family in FAMILIES:
            for name in local:
                self._ingress.pop((family, name), None)
                old = self._egress.pop((family, name), None)
                if old is not None:
                    old_egress[family, name] = old
        touched: set[tuple[str, str]] = set()
        for name in local:
            for src in self._into.pop(name, {}):
                touched.add((src, name))
                self._from[src].discard(name)
            self._combine_into(self.workloads[name])
            touched |= {(src, name) for src in self._into.get(name, {})}
        # Same ports everywhere: only the evidence (counters, rule numbers) is new.
        refreshed: dict[str, list[tuple[int, _Side]]] = {}
        changed: set[str] = set()
        for (family, name), old in old_egress.items():
            new = self._egress_side(family, self.workloads[name])
            if _same_answers(old, new):
                refreshed.setdefault(name, []).append((family, new))
            else:
                changed.add(name)
        # The cost follows the pairs that involve the host, not the fleet's size.
        for name in changed | set(refreshed):
            reached = self._from.get(name, set())
            for dst in [d for d in reached if d not in local]:
                touched.add((name, dst))
                into = self._into[dst]
                if name in changed:
                    del into[name]
                    reached.discard(dst)
                    continue
                pair = into[name]
                if pair.egress is None:
                    continue
                for family, new in refreshed[name]:
                    position = self._position[family].get(dst)
                    if position is not None:
                        into[name] = pair = PairVerdict(name, dst, pair.allowed, pair.ingress,
                                                        new.at(position))
        if changed:
            for workload in self.fleet.workloads:
                if workload.name not in local:
                    self._combine_from(changed, workload)
                    sources = self._into.get(workload.name)
                    if sources:
                        touched |= {(name, workload.name) for name in sources.keys() & changed}
        return touched

    def update_membership(self, workloads: Iterable[Workload]) -> None:
        """Workloads started, stopped or relabelled: the same hosts' rules over a new set of
        workloads. Every evaluated class keeps its answer (classes are read by what the rules
        name, not by who is in them); only classes that gain their first member are
        evaluated, and the pairs are expanded again."""
        self.fleet.workloads = tuple(workloads)
        self.workloads = {w.name: w for w in self.fleet.workloads}
        self.indexes.clear()
        self._build_indexes()
        self._version += 1
        self._ingress.clear()
        self._egress.clear()
        self.compute()

    def _combine_into(self, dst: Workload) -> None:
        """Every pair toward `dst`."""
        for family, index in self.indexes.items():
            if dst.address(family) is None:
                continue
            side = self._ingress_side(family, dst)
            names = index.names
            for start, end, class_id in side.partition.ranges():
                verdicts = side.verdicts[class_id]
                if not verdicts.allowed:
                    continue
                for position in range(start, end):
                    self._pair(family, names[position], dst, verdicts, side)
            for src_name, verdicts in side.individual.items():
                if verdicts.allowed:
                    self.add_pair(PairVerdict(src_name, dst.name, verdicts.allowed, verdicts))

    def _combine_from(self, sources: set[str], dst: Workload) -> None:
        """Pairs from some sources toward `dst` (after those sources' host changed)."""
        for family, _index in self.indexes.items():
            if dst.address(family) is None:
                continue
            side = self._ingress_side(family, dst)
            positions = self._position[family]
            for name in sources:
                position = positions.get(name)
                if position is None:
                    continue
                verdicts = side.individual.get(name) or side.at(position)
                if name in side.individual:
                    if verdicts.allowed:
                        self.add_pair(PairVerdict(name, dst.name, verdicts.allowed, verdicts))
                elif verdicts.allowed:
                    self._pair(family, name, dst, verdicts, side)

    def _pair(self, family: int, src_name: str, dst: Workload, ingress: PathVerdicts,
              side: _Side) -> None:
        if src_name == dst.name or src_name in side.individual:
            return
        src = self.workloads[src_name]
        if src.host == dst.host:
            self.add_pair(PairVerdict(src_name, dst.name, ingress.allowed, ingress))
            return
        egress = self._egress.get((family, src_name)) or self._egress_side(family, src)
        verdicts = egress.verdicts
        out = verdicts[0] if len(verdicts) == 1 else egress.at(self._position[family][dst.name])
        # Port sets are interned (verdicts.py): each combination is intersected once.
        key = (id(ingress.allowed), id(out.allowed))
        allowed = self._combined.get(key)
        if allowed is None:
            allowed = self._combined[key] = ingress.allowed & out.allowed
            self._keep.append((ingress.allowed, out.allowed))  # the ids stay theirs
        if allowed:
            self.add_pair(PairVerdict(src_name, dst.name, allowed, ingress, out))

    def add_pair(self, pair: PairVerdict) -> None:
        """Record an allowed pair (both IP versions add up)."""
        into = self._into.get(pair.dst)
        if into is None:
            into = self._into[pair.dst] = {}
        known = into.get(pair.src)
        if known is not None:  # both IP versions: either one connects
            pair = PairVerdict(pair.src, pair.dst, known.allowed | pair.allowed, pair.ingress,
                               pair.egress)
        else:
            reached = self._from.get(pair.src)
            if reached is None:
                reached = self._from[pair.src] = set()
            reached.add(pair.dst)
        into[pair.src] = pair

    # -- one side ---------------------------------------------------------------------------

    @property
    def _unreported(self) -> PathVerdicts:
        """What a host without a snapshot does to every packet."""
        return OPEN if self.fleet.unreported_open else SHUT

    def _ingress_side(self, family: int, dst: Workload) -> _Side:
        key = (family, dst.name)
        side = self._ingress.get(key)
        if side is None:
            side = self._ingress[key] = self._compute_ingress(family, dst)
        return side

    def _egress_side(self, family: int, src: Workload) -> _Side:
        key = (family, src.name)
        side = self._egress.get(key)
        if side is None:
            side = self._egress[key] = self._compute_egress(family, src)
        return side

    def _compute_ingress(self, family: int, dst: Workload) -> _Side:
        index = self.indexes[family]
        engine = self.engine(dst.host)
        dst_text = dst.address(family)
        assert dst_text is not None
        dst_value = parse_address(dst_text)[1]
        uplink = engine.state.uplink
        bridged = dst.attachment == "bridged"
        hook = "FORWARD" if bridged else "INPUT"
        out_iface = dst.interface if bridged else None
        locals_ = [w for w in self._by_host.get(dst.host, ())
                   if w.name != dst.name and w.address(family) is not None]
        if engine.reach is None:
            return _Side(*_single(index, self._unreported))
        # Sources on the same host come in on their own interface; when no reachable rule
        # looks at the incoming interface, they fall into the same classes as remote ones.
        any_in = Fixed(family, hook, dst=dst_value, in_iface=None, out_iface=out_iface)
        relevant = engine.reach.relevant(any_in)
        shared = not relevant.in_patterns and not relevant.interface_sensitive
        fixed = any_in if shared else Fixed(family, hook, dst=dst_value, in_iface=uplink,
                                            out_iface=out_iface)
        reachable = self._live(engine.reach.relevant(fixed), family, "src")
        key = self._shape_key(engine, reachable, family, hook, shared, (dst.interface,),
                              dst_value)

        def evaluate(rep: int) -> PathVerdicts:
            return engine.path(family, hook, index.texts[rep], dst_text, uplink, out_iface,
                               fixed)

        side = _Side(*self._classes(engine, family, reachable, key, evaluate))
        for src in locals_:
            if shared and src.attachment == "bridged" and bridged:
                continue
            if shared and src.attachment == "bridged" and not bridged:
                continue
            side.individual[src.name] = self._local_path(family, src, dst, engine)
        return side

    def _classes(self, engine: _HostEngine, family: int, reachable: Relevant,
                 key: Hashable | None, evaluate: Callable[[int], PathVerdicts]
                 ) -> tuple[Partition, list[PathVerdicts]]:
        """Classes of the index under the reachable rules' atoms and their verdicts: from a
        like workload's template (destinations.py) when there is one, else evaluated, one
        representative per class."""
        index = self.indexes[family]
        atoms = reachable.atoms.addresses.get(family, ())
        template = self._templates.get(key) if key is not None else None
        if template is not None and reachable.ordered is not None and engine.directory:
            if template.version != self._version:
                self._refresh(template, index, atoms, reachable.ordered, engine, family,
                              evaluate)
            self.shared_evaluations += 1
            return template.partition, translate(template, reachable.ordered,
                                                 engine.directory, family)
        parts, reps = partition(index, atoms)
        verdicts = []
        for rep in reps:
            if rep < 0:
                verdicts.append(NOTHING)
                continue
            verdicts.append(evaluate(rep))
            self.evaluations += 1
        if key is not None and reachable.ordered is not None and engine.directory:
            known = {sig: v for sig, v, rep in zip(parts.signatures, verdicts, reps, strict=True)
                     if rep >= 0}
            self._templates[key] = Template(parts, verdicts, reachable.ordered,
                                            engine.directory, self._version, known)
        return parts, verdicts

    def _refresh(self, template: Template, index: AddressIndex, atoms: Any,
                 ordered: tuple[Any, ...], engine: _HostEngine, family: int,
                 evaluate: Callable[[int], PathVerdicts]) -> None:
        """Re-cut a template's classes on the current address index; classes that gained
        their first member are evaluated here and kept in the template's terms."""
        assert engine.directory is not None
        parts, reps = partition(index, atoms)
        for signature, rep in zip(parts.signatures, reps, strict=True):
            if rep >= 0 and signature not in template.by_signature:
                here = evaluate(rep)
                self.evaluations += 1
                template.by_signature[signature] = translate_verdicts(
                    [here], ordered, template.ordered, template.directory, family)[0]
        template.partition = parts
        template.verdicts = [template.by_signature.get(sig, NOTHING) for sig in parts.signatures]
        template.version = self._version

    def _shape_key(self, engine: _HostEngine, reachable: Relevant, family: int, hook: str,
                   shared: bool, own: tuple[str, ...], fixed_value: int) -> Hashable | None:
        """Workloads with equal keys get the same verdicts (destinations.py); `own` are the
        names that stand for the workload itself, `fixed_value` its address."""
        if engine.digests is None or engine.state.rules is None:
            return None
        sensitive = reachable.address_sensitive
        context = (family, hook, shared, None if shared else engine.state.uplink,
                   fixed_value if sensitive else None,
                   engine.state.rules.local_addresses if sensitive else None,
                   engine.digests.policies(family))
        return shape_key(engine.digests, reachable, own, context)

    def _live(self, reachable: Relevant, family: int, varying: str) -> Relevant:
        """The reachable rules less those whose `varying` address (the source's for ingress,
        the destination's for egress) is one that no workload of the fleet has, with only
        the atoms that hold a workload: no packet between workloads meets such a rule, so
        destinations that differ by one (a rule for an outside address, an address left
        behind by a stopped workload) share their evaluation, and its class of no workload
        is not cut."""
        index = self.indexes.get(family)
        if index is None or reachable.ordered is None:
            return reachable
        held = index.addresses
        atoms = reachable.atoms.addresses.get(family, [])
        kept = [atom for atom in atoms if _holds(held, atom[0], atom[1])]
        bits = 32 if family == 4 else 128
        ordered = tuple(rule for rule in reachable.ordered
                        if not _names_nobody(getattr(rule, varying), held, bits))
        if len(kept) == len(atoms) and len(ordered) == len(reachable.ordered):
            return reachable
        live = RuleAtoms({**reachable.atoms.addresses, family: kept}, reachable.atoms.ports,
                         reachable.atoms.sets)
        return replace(reachable, atoms=live, ordered=ordered)

    def _local_path(self, family: int, src: Workload, dst: Workload,
                    engine: _HostEngine) -> PathVerdicts:
        """Both workloads on one host: the one pass (or OUTPUT then INPUT) they cross."""
        src_text, dst_text = src.address(family), dst.address(family)
        assert src_text is not None and dst_text is not None
        dst_value = parse_address(dst_text)[1]
        src_value = parse_address(src_text)[1]
        self.evaluations += 1
        if src.attachment == "bridged" and dst.attachment == "bridged":
            fixed = Fixed(family, "FORWARD", src_value, dst_value, src.interface, dst.interface)
            return engine.path(family, "FORWARD", src_text, dst_text, src.interface,
                               dst.interface, fixed)
        if src.attachment == "bridged":
            fixed = Fixed(family, "INPUT", src_value, dst_value, src.interface, None)
            return engine.path(family, "INPUT", src_text, dst_text, src.interface, None, fixed)
        if dst.attachment == "bridged":
            fixed = Fixed(family, "OUTPUT", src_value, dst_value, None, dst.interface)
            return engine.path(family, "OUTPUT", src_text, dst_text, None, dst.interface, fixed)
        out = engine.path(family, "OUTPUT", src_text, dst_text, None, "lo",
                          Fixed(family, "OUTPUT", src_value, dst_value, None, "lo"))
        into = engine.path(family, "INPUT", src_text, dst_text, "lo", None,
                           Fixed(family, "INPUT", src_value, dst_value, "lo", None))
        allowed = out.allowed & into.allowed
        return PathVerdicts(allowed, into.accepted_by, out.denied_by + into.denied_by)

    def _compute_egress(self, family: int, src: Workload) -> _Side:
        index = self.indexes[family]
        engine = self.engine(src.host)
        if engine.reach is None:
            return _Side(*_single(index, self._unreported))
        src_text = src.address(family)
        assert src_text is not None
        src_value = parse_address(src_text)[1]
        uplink = engine.state.uplink
        bridged = src.attachment == "bridged"
        hook = "FORWARD" if bridged else "OUTPUT"
        in_iface = src.interface if bridged else None
        fixed = Fixed(family, hook, src=src_value, in_iface=in_iface, out_iface=uplink)
        reachable = self._live(engine.reach.relevant(fixed), family, "dst")
        # The source's own address is fixed here as the destination's is for ingress; the
        # shape key marks egress by the hook and the uplink standing where `shared` would.
        key = self._shape_key(engine, reachable, family, f"egress {hook}", False,
                              (src.interface,), src_value)

        def evaluate(rep: int) -> PathVerdicts:
            return engine.path(family, hook, src_text, index.texts[rep], in_iface, uplink,
                               fixed)

        return _Side(*self._classes(engine, family, reachable, key, evaluate))

    # -- reading --------------------------------------------------------------------------

    def pair(self, src: str, dst: str) -> PairVerdict:
        """The verdict for any pair, allowed or not (with the blocking rules when not)."""
        found = self.pairs.get((src, dst))
        if found is not None:
            return found
        source, destination = self.workloads[src], self.workloads[dst]
        for family in FAMILIES:
            if source.address(family) is None or destination.address(family) is None:
                continue
            side = self._ingress_side(family, destination)
            ingress = side.individual.get(src) or side.at(self._position[family][src])
            egress = None
            if src not in side.individual and source.host != destination.host:
                egress = self._egress_side(family, source).at(self._position[family][dst])
            return PairVerdict(src, dst, EMPTY, ingress, egress)
        return PairVerdict(src, dst, EMPTY, PathVerdicts(EMPTY))

    def edges(self) -> Iterator[PairVerdict]:
        """Every allowed pair, sorted by source then destination."""
        for key in sorted(self.pairs):
            yield self.pairs[key]

    def workloads_on(self, host: str) -> list[Workload]:
        return list(self._by_host.get(host, ()))

    def edges_toward(self, destinations: Iterable[str]) -> Iterator[PairVerdict]:
        """The allowed pairs toward these workloads, sorted by source then destination."""
        into = self._into
        keys = sorted((src, dst) for dst in set(destinations) for src in into.get(dst, ()))
        for src, dst in keys:
            yield into[dst][src]

    def edges_from(self, sources: Iterable[str]) -> Iterator[PairVerdict]:
        """The allowed pairs from these workloads, sorted by source then destination."""
        into = self._into
        keys = sorted((src, dst) for src in set(sources) for dst in self._from.get(src, ()))
        for src, dst in keys:
            yield into[dst][src]

    def destinations_from(self, src: str) -> Iterable[str]:
        """The workloads `src` is allowed to reach on some port (read only)."""
        return self._from.get(src, ())


class PairMap(Mapping[tuple[str, str], PairVerdict]):
    """The allowed pairs as one read-only mapping (source, destination) -> PairVerdict."""

    def __init__(self, into: dict[str, dict[str, PairVerdict]]) -> None:
        self._into = into

    def __getitem__(self, key: tuple[str, str]) -> PairVerdict:
        return self._into[key[1]][key[0]]

    def __contains__(self, key: object) -> bool:
        return (isinstance(key, tuple) and len(key) == 2
                and key[0] in self._into.get(key[1], {}))

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        return self._into.get(key[1], {}).get(key[0], default)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for dst, sources in self._into.items():
            for src in sources:
                yield src, dst

    def __len__(self) -> int:
        return sum(len(sources) for sources in self._into.values())


SHUT = PathVerdicts(EMPTY)


def _holds(addresses: tuple[int, ...], first: int, last: int) -> bool:
    """Whether some address of the sorted `addresses` lies in first..last."""
    position = bisect_left(addresses, first)
    return position < len(addresses) and addresses[position] <= last


def _names_nobody(address: tuple[int, int, bool] | None, held: tuple[int, ...],
                  bits: int) -> bool:
    """A rule's (network, mask, negated) address test that no address of `held` passes."""
    if address is None or address[2]:
        return False
    network, mask = address[0], address[1]
    return not _holds(held, network, network | (~mask & ((1 << bits) - 1)))


def _same_answers(old: _Side, new: _Side) -> bool:
    return (old.partition == new.partition
            and [v.allowed for v in old.verdicts] == [v.allowed for v in new.verdicts])


def _single(index: AddressIndex, verdicts: PathVerdicts) -> tuple[Partition, list[PathVerdicts]]:
    return Partition((0,), (0,), len(index.addresses)), [verdicts]


def compute_graph(fleet: Fleet) -> EffectiveGraph:
    """The effective graph of a fleet."""
    return EffectiveGraph(fleet).compute()


def names(workloads: Iterable[Workload]) -> list[str]:
    return sorted(w.name for w in workloads)
