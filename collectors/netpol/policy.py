"""NetworkPolicy values and their evaluation with Kubernetes' own semantics."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from collectors.intent import PortRange
from collectors.inventory import NAMESPACE_LABEL

# The control plane labels every namespace with its own name (Kubernetes 1.22 and later).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
SEGMENT_PREFIX = "ns/"
# What a rule without `ports`, or a side no policy isolates, allows: every protocol and port.
ALL_PORTS = (PortRange("icmp", 0, 65535), PortRange("sctp", 0, 65535),
             PortRange("tcp", 0, 65535), PortRange("udp", 0, 65535))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Workload(Protocol):
    """What evaluation reads of a workload (`collectors.inventory.WorkloadEntry` has it)."""

    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def addresses(self) -> tuple[str, ...]: ...
    @property
    def ports(self) -> Mapping[str, tuple[str, int]]: ...


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` entry: `key` `operator` (In, NotIn, Exists, DoesNotExist) `values`."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        inside = self.key in labels and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector: every `matchLabels` pair AND every expression (empty: all)."""

    match_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return (all(labels.get(k) == v for k, v in self.match_labels.items())
                and all(e.matches(labels) for e in self.expressions))


@dataclass(frozen=True, slots=True)
class IPBlock:
    """`cidr` less the `except` networks."""

    cidr: Network
    excepted: tuple[Network, ...] = ()

    def contains(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return address in self.cidr and not any(address in net for net in self.excepted)


@dataclass(frozen=True, slots=True)
class PolicyPeer:
    """A `from`/`to` entry: an ipBlock, or pods by pod and/or namespace selector (AND)."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True, slots=True)
class PolicyPort:
    """A `ports` entry: protocol (lower case), a number or a port name (None: every port),
    and `endPort`."""

    protocol: str = "tcp"
    port: int | str | None = None
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """An ingress or egress rule; None peers means every peer, None ports every port and
    protocol (ICMP included)."""

    peers: tuple[PolicyPeer, ...] | None = None
    ports: tuple[PolicyPort, ...] | None = None


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """One NetworkPolicy object, its `policyTypes` already defaulted."""

    namespace: str
    name: str
    pod_selector: LabelSelector
    policy_types: frozenset[str]
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()


@dataclass(frozen=True, slots=True)
class _Pod:
    """A workload as policies see it; `namespace` None when it is not on the pod network."""

    namespace: str | None
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]
    addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    ports: Mapping[str, tuple[str, int]]


@dataclass(frozen=True, slots=True)
class NetworkPolicyIntent:
    """A policy version made of NetworkPolicy objects; one segment `ns/<namespace>` per
    namespace they are in."""

    kind: ClassVar[str] = "networkpolicy"

    policies: tuple[NetworkPolicy, ...]
    version: str = ""
    segments: Mapping[str, Mapping[str, str]] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        names = sorted({p.namespace for p in self.policies})
        object.__setattr__(self, "segments", MappingProxyType(
            {f"{SEGMENT_PREFIX}{ns}": MappingProxyType({NAMESPACE_LABEL: ns}) for ns in names}))

    # What a Segscope intent also answers, so that both kinds are listed alike: Kubernetes
    # policies have no segment-to-segment allows, deny only where they select, and say nothing
    # of when they were published (the upload or the bundle's first snapshot says it).
    allows: ClassVar[tuple[()]] = ()
    default: ClassVar[str] = "deny where selected"
    published_at: ClassVar[None] = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind,
                "segments": {k: dict(v) for k, v in self.segments.items()},
                "policies": [{"namespace": p.namespace, "name": p.name,
                              "policyTypes": sorted(p.policy_types)} for p in self.policies]}

    def allowed_ports(self, src: Workload, dst: Workload,
                      namespaces: Mapping[str, Mapping[str, str]] = MappingProxyType({}),
                      ) -> tuple[PortRange, ...]:
        """Where a new connection from `src` to `dst` is allowed, sorted and merged;
        `namespaces` gives each namespace's labels."""
        source, destination = _pod(src, namespaces), _pod(dst, namespaces)
        egress = self._side(source, destination, destination, "Egress")
        ingress = self._side(destination, source, destination, "Ingress")
        return _intersect(egress, ingress)

    def _side(self, subject: _Pod, peer: _Pod, destination: _Pod,
              direction: str) -> tuple[PortRange, ...]:
        """What the policies selecting `subject` for `direction` allow with `peer`."""
        applying = [p for p in self.policies if direction in p.policy_types
                    and p.namespace == subject.namespace and p.pod_selector.matches(subject.labels)]
        if not applying:
            return ALL_PORTS
        allowed: list[PortRange] = []
        for policy in applying:
            for rule in policy.ingress if direction == "Ingress" else policy.egress:
                if rule.peers is None or any(_peer_matches(x, policy.namespace, peer)
                                             for x in rule.peers):
                    allowed.extend(_rule_ports(rule, destination))
        return _merge(allowed)


def _pod(workload: Workload, namespaces: Mapping[str, Mapping[str, str]]) -> _Pod:
    addresses = []
    for text in workload.addresses:
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            continue
    namespace = workload.labels.get(NAMESPACE_LABEL)
    if getattr(workload, "attachment", "bridged") == "host":
        namespace = None
    labels = {k: v for k, v in workload.labels.items() if k != NAMESPACE_LABEL}
    ns_labels = ({**namespaces.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}
                 if namespace is not None else {})
    return _Pod(namespace, labels, ns_labels, tuple(addresses), workload.ports)


def _peer_matches(peer: PolicyPeer, policy_namespace: str, pod: _Pod) -> bool:
    if peer.ip_block is not None:
        return any(peer.ip_block.contains(address) for address in pod.addresses)
    if pod.namespace is None:
        return False
    if peer.namespace_selector is None:
        if pod.namespace != policy_namespace:
            return False
    elif not peer.namespace_selector.matches(pod.namespace_labels):
        return False
    return peer.pod_selector is None or peer.pod_selector.matches(pod.labels)


def _rule_ports(rule: PolicyRule, destination: _Pod) -> Iterable[PortRange]:
    if rule.ports is None:
        return ALL_PORTS
    ranges = []
    for port in rule.ports:
        if port.port is None:
            ranges.append(PortRange(port.protocol, 0, 65535))
        elif isinstance(port.port, int):
            ranges.append(PortRange(port.protocol, port.port, port.end_port or port.port))
        else:
            # A name means the destination pod's container port of that name and protocol;
            # a destination without one is not allowed anything by this entry.
            named = destination.ports.get(port.port)
            if named is not None and named[0] == port.protocol:
                ranges.append(PortRange(port.protocol, named[1], named[1]))
    return ranges


def _merge(ranges: Iterable[PortRange]) -> tuple[PortRange, ...]:
    merged: list[PortRange] = []
    for r in sorted(ranges, key=lambda r: (r.proto, r.low, r.high)):
        last = merged[-1] if merged else None
        if last is not None and last.proto == r.proto and r.low <= last.high + 1:
            merged[-1] = PortRange(r.proto, last.low, max(last.high, r.high))
        else:
            merged.append(r)
    return tuple(merged)


def _intersect(a: tuple[PortRange, ...], b: tuple[PortRange, ...]) -> tuple[PortRange, ...]:
    both = [PortRange(x.proto, max(x.low, y.low), min(x.high, y.high))
            for x in a for y in b if x.proto == y.proto]
    return _merge(r for r in both if r.low <= r.high)
