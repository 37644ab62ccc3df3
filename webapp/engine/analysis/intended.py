"""The intended policy, workload by workload: which ports each pair should be allowed.

Segscope YAML intents speak of segments (label selectors) and CIDRs; a Kubernetes NetworkPolicy
intent answers per pair itself (`allowed_ports`). Both reduce to a PortSet per pair over the
protocols the graph evaluates."""

from __future__ import annotations

import ipaddress
from collections.abc import Container, Iterable, Mapping
from typing import Any

from collectors.intent import Intent, selector_matches
from webapp.engine.analysis.fleet import Workload
from webapp.engine.analysis.ports import GRAPH_PROTOCOLS, PortSet

Pair = tuple[str, str]


def ports_of(ranges: Iterable[Any]) -> PortSet:
    """collectors.intent.PortRange values as a PortSet over the graph's protocols."""
    mapping: dict[str, list[tuple[int, int]]] = {}
    for port in ranges:
        mapping.setdefault(port.proto, []).append((port.low, port.high))
    return PortSet.of(mapping).restricted(GRAPH_PROTOCOLS)


def segment_selectors(intent: Any, workloads: Iterable[Workload]) -> dict[str, Mapping[str, str]]:
    """The segments to aggregate by: the intent's, or one per `app` label without an intent."""
    if intent is not None and getattr(intent, "segments", None):
        return dict(intent.segments)
    out: dict[str, Mapping[str, str]] = {}
    for workload in workloads:
        app = workload.labels.get("app")
        if app is not None:
            out.setdefault(app, {"app": app})
    return out


def memberships(selectors: Mapping[str, Mapping[str, str]],
                workloads: Iterable[Workload]) -> dict[str, list[str]]:
    """Segment name -> names of its workloads (sorted)."""
    ordered = sorted(workloads, key=lambda w: w.name)
    # Workloads by label, so that a segment looks only at those carrying its rarest label: a
    # thousand segments over twenty thousand workloads is then 20,000 checks, not 20 million.
    carrying: dict[tuple[str, str], list[int]] = {}
    for index, workload in enumerate(ordered):
        for item in workload.labels.items():
            carrying.setdefault(item, []).append(index)
    out: dict[str, list[str]] = {}
    for name, selector in selectors.items():
        if not selector:
            out[name] = [w.name for w in ordered]
            continue
        rarest = min(selector.items(), key=lambda item: len(carrying.get(item, ())))
        out[name] = [ordered[i].name for i in carrying.get(rarest, ())
                     if selector_matches(selector, ordered[i].labels)]
    return out


def segments_of(selectors: Mapping[str, Mapping[str, str]], workload: Workload) -> list[str]:
    return sorted(name for name, selector in selectors.items()
                  if selector_matches(selector, workload.labels))


def _in_cidr(cidr: str, workload: Workload) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    for text in workload.addresses:
        address = ipaddress.ip_address(text)
        if address.version == network.version and address in network:
            return True
    return False


def intended_pairs(intent: Any, workloads: Iterable[Workload],
                   namespaces: Mapping[str, Mapping[str, str]] | None = None
                   ) -> dict[Pair, PortSet]:
    """Every pair the intent allows something, with the ports (no intent: nothing)."""
    live = sorted(workloads, key=lambda w: w.name)
    if intent is None:
        return {}
    if isinstance(intent, Intent):
        return segscope_pairs(intent, live)
    out: dict[Pair, PortSet] = {}
    for src in live:
        for dst in live:
            if src.name != dst.name:
                ports = ports_of(intent.allowed_ports(src, dst, namespaces or {}))
                if ports:
                    out[(src.name, dst.name)] = ports
    return out


def segscope_pairs(intent: Intent, live: list[Workload],
                   touched: Container[str] | None = None) -> dict[Pair, PortSet]:
    """intended_pairs of a Segscope intent over `live` (sorted by name); with `touched`, only
    the pairs with a workload in it."""
    members = memberships(intent.segments, live)
    by_name = {w.name: w for w in live}
    out: dict[Pair, PortSet] = {}
    for allow in intent.allows:
        ports = ports_of(allow.ports)
        if not ports:
            continue
        sources = _peer_members(allow.source, members, live)
        destinations = _peer_members(allow.destination, members, live)
        for src in sources:
            for dst in destinations if touched is None or src in touched else (
                    d for d in destinations if d in touched):
                if src == dst or src not in by_name or dst not in by_name:
                    continue
                key = (src, dst)
                known = out.get(key)
                out[key] = ports if known is None else known | ports
    return out


def _peer_members(peer: Any, members: Mapping[str, list[str]],
                  live: list[Workload]) -> list[str]:
    if peer.segment is not None:
        return members.get(peer.segment, [])
    return [w.name for w in live if _in_cidr(peer.cidr, w)]
