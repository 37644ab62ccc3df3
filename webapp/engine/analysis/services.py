"""Service addresses: a connection to an address that a host's nat table translates (kube-proxy's
cluster IPs, any DNAT) reaches the workload it is translated to, and counts as a connection to
that workload. Each possible endpoint (a `-m statistic` choice) is followed on its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from webapp.engine.analysis.fleet import HostState, Workload
from webapp.engine.analysis.graph import FAMILIES, EffectiveGraph, PairVerdict
from webapp.engine.analysis.ports import PortSet
from webapp.engine.analysis.verdicts import PathVerdicts, intern
from webapp.engine.host import HostRules
from webapp.engine.packet import Packet
from webapp.engine.values import ValueParseError, parse_cidr, parse_port_range

_PORTED = ("tcp", "udp")


@dataclass(frozen=True, slots=True)
class Service:
    """An address and port that a host's nat table matches on its way to a DNAT."""

    address: str
    proto: str
    port: int


def services(rules: HostRules, family: int) -> list[Service]:
    """Single addresses a nat table matches as destination, with the protocol and first port
    named beside them: the candidates a connection may be translated from."""
    found: set[Service] = set()
    ruleset = rules.rulesets.get(family)
    if ruleset is None or "nat" not in ruleset.tables:
        return []
    for chain in ruleset.tables["nat"].chains.values():
        for rule in chain.rules:
            spec = rule.spec
            dst = next((o for o in spec.base if o.name == "destination" and not o.negated), None)
            proto = next((o.value for o in spec.base if o.name == "protocol"
                          and not o.negated), None)
            if dst is None or proto not in _PORTED:
                continue
            try:
                fam, first, _, last = parse_cidr(dst.value)
            except ValueParseError:
                continue
            if first != last:
                continue
            for match in spec.matches:
                for opt in match.options:
                    if opt.name in ("dport", "destination-port") and not opt.negated:
                        try:
                            low, _ = parse_port_range(opt.value)
                        except ValueParseError:
                            continue
                        found.add(Service(dst.value.split("/")[0], proto, low))
    return sorted(found, key=lambda s: (s.address, s.proto, s.port))


def add_service_edges(graph: EffectiveGraph) -> int:
    """Add to the graph what workloads reach through service addresses; returns how many
    (pair, port) answers were added."""
    owner: dict[str, Workload] = {}
    for workload in graph.fleet.workloads:
        for text in workload.addresses:
            owner[text] = workload
    added = 0
    for host, state in graph.fleet.hosts.items():
        if state.rules is None:
            continue
        for family in FAMILIES:
            candidates = services(state.rules, family)
            if not candidates:
                continue
            for src in graph.fleet.on_host(host):
                for service in candidates:
                    for dst, port, egress in _translations(graph, state, src, service, family,
                                                           owner):
                        added += _admit(graph, family, src, dst, service, port, egress)
    return added


def _translations(graph: EffectiveGraph, state: HostState, src: Workload, service: Service,
                  family: int, owner: dict[str, Workload]
                  ) -> Iterator[tuple[Workload, int, PathVerdicts]]:
    src_text = src.address(family)
    if src_text is None or (":" in service.address) != (family == 6):
        return
    bridged = src.attachment == "bridged"
    hook = "FORWARD" if bridged else "OUTPUT"
    packet = Packet(src_text, service.address, service.proto, 40000, service.port,
                    in_iface=src.interface if bridged else None, out_iface=state.uplink)
    assert state.rules is not None
    explanation = state.rules.explain(packet, hook, trace=False)
    outcomes = [(explanation.verdict, explanation.decided_by, explanation.nat)]
    if explanation.possible:
        outcomes = [(o.verdict, o.decided_by, o.nat) for o in explanation.possible]
    engine = graph.engine(src.host)
    for verdict, decision, nat in outcomes:
        if verdict != "ACCEPT" or not nat or not nat.get("dst"):
            continue
        dst = owner.get(str(nat["dst"]))
        if dst is None or dst.name == src.name:
            continue
        port = int(nat.get("dport") or service.port)
        ports = PortSet.of({service.proto: [(port, port)]})
        note = f"through service {service.address}:{service.port} (DNAT on {src.host})"
        assert engine.directory is not None
        evidence = engine.directory.evidence(family, hook, "ACCEPT", decision, note)
        yield dst, port, PathVerdicts(intern(ports), ((evidence, ports),))


def _admit(graph: EffectiveGraph, family: int, src: Workload, dst: Workload, service: Service,
           port: int, egress: PathVerdicts) -> int:
    """Whether the endpoint's host lets the translated connection in; if so, add it."""
    verdict = graph.pair(src.name, dst.name)
    known = graph.pairs.get((src.name, dst.name))
    if known is not None and known.allowed.contains(service.proto, port):
        return 0
    ingress = verdict.ingress
    if not ingress.allowed.contains(service.proto, port):
        return 0
    if known is not None and known.egress is not None:
        egress = PathVerdicts(known.egress.allowed | egress.allowed,
                              known.egress.accepted_by + egress.accepted_by,
                              known.egress.denied_by)
    allowed = (known.allowed if known is not None else PortSet()) | egress.allowed
    graph.add_pair(PairVerdict(src.name, dst.name, allowed, ingress, egress))
    return 1
