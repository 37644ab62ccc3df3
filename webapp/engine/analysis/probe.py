"""One host's answer for chosen workload pairs, without building the whole graph."""

from __future__ import annotations

from collections.abc import Iterable

from webapp.engine.analysis.fleet import Fleet, HostState, Workload
from webapp.engine.analysis.graph import FAMILIES, EffectiveGraph
from webapp.engine.analysis.ports import EMPTY, PortSet


class HostProbe:
    """What one host's rules accept for a pair: its ingress (destination on the host, or both
    on it) and its egress (source on the host, destination elsewhere)."""

    def __init__(self, state: HostState, workloads: Iterable[Workload]) -> None:
        self.host = state.name
        self.graph = EffectiveGraph(Fleet({state.name: state}, tuple(workloads)))

    def ingress(self, src: str, dst: str) -> PortSet:
        graph = self.graph
        allowed = EMPTY
        for family in FAMILIES:
            source, destination = graph.workloads[src], graph.workloads[dst]
            if source.address(family) is None or destination.address(family) is None:
                continue
            side = graph._ingress_side(family, destination)
            verdicts = side.individual.get(src) or side.at(graph._position[family][src])
            allowed = allowed | verdicts.allowed
        return allowed

    def egress(self, src: str, dst: str) -> PortSet:
        graph = self.graph
        allowed = EMPTY
        for family in FAMILIES:
            source, destination = graph.workloads[src], graph.workloads[dst]
            if source.address(family) is None or destination.address(family) is None:
                continue
            side = graph._egress_side(family, source)
            allowed = allowed | side.at(graph._position[family][dst]).allowed
        return allowed

    def knows(self, *names: str) -> bool:
        return all(name in self.graph.workloads for name in names)
