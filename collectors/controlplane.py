"""A small distributed-ACL control plane: intent plus inventory in, per-host iptables and ipset out.

It writes rules the way such control planes do: every bridged workload gets an ingress chain
hooked on FORWARD by its interface; the chain accepts established traffic, then the intended
sources (an ipset per source segment, or one rule per peer address for the flat-ACL form) on the
intended ports, logs and drops the rest. Egress from a workload is accepted here; its destination
host decides."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from collectors.intent import Allow, Intent, selector_matches

LOG_PREFIX = "segscope-drop "


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """What the control plane needs to know of a workload."""

    name: str
    host: str
    addresses: tuple[str, ...]
    interface: str | None = None
    attachment: str = "bridged"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostRules:
    """The tables one host should have loaded."""

    host: str
    iptables: str
    ipset: str


# Chain and set names are one word: whitespace, quotes or backslashes would split the rule.
_NOT_IN_A_NAME = re.compile(r"[\s\"'\\]")


def chain_name(workload: WorkloadSpec) -> str:
    # iptables chain names are at most 28 characters.
    return _NOT_IN_A_NAME.sub("_", f"seg-in-{workload.interface or workload.name}")[:28]


def set_name(segment: str) -> str:
    return _NOT_IN_A_NAME.sub("_", f"seg-{segment}")[:31]


def quoted(text: str) -> str:
    """Text as iptables-save quotes an argument: backslashes and double quotes escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def segment_members(intent: Intent, workloads: Iterable[WorkloadSpec]) -> dict[str, list[str]]:
    """IPv4 addresses of each segment's workloads, in a stable order."""
    members: dict[str, list[str]] = {name: [] for name in intent.segments}
    for workload in sorted(workloads, key=lambda w: w.name):
        for name, selector in intent.segments.items():
            if selector_matches(selector, workload.labels):
                members[name].extend(a for a in workload.addresses if ":" not in a)
    return members


def render_host(host: str, intent: Intent, workloads: Sequence[WorkloadSpec],
                use_sets: bool = True) -> HostRules:
    """iptables-save and ipset save text for one host's bridged workloads."""
    members = segment_members(intent, workloads)
    local = [w for w in workloads if w.host == host and w.attachment == "bridged" and w.interface]
    chains = [chain_name(w) for w in local]
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [f":{c} - [0:0]" for c in chains]
    lines.append("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    for workload, chain in zip(local, chains, strict=True):
        lines.append(f"-A FORWARD -o {workload.interface} -j {chain}")
    for workload in local:
        lines.append(f"-A FORWARD -i {workload.interface} -j ACCEPT")
    used_sets: set[str] = set()
    for workload, chain in zip(local, chains, strict=True):
        for allow in _allows_into(intent, workload):
            lines.extend(_allow_rules(chain, allow, members, use_sets, used_sets))
        lines.append(f"-A {chain} -j NFLOG --nflog-group 1 --nflog-prefix "
                     f"{quoted(LOG_PREFIX + workload.name)}")
        lines.append(f"-A {chain} -j DROP")
    lines += ["COMMIT", ""]
    ipset_lines = []
    for segment in sorted(used_sets):
        ipset_lines.append(f"create {set_name(segment)} hash:ip family inet hashsize 1024 "
                           "maxelem 65536")
        ipset_lines += [f"add {set_name(segment)} {a}" for a in members[segment]]
    return HostRules(host, "\n".join(lines), "\n".join(ipset_lines) + ("\n" if ipset_lines else ""))


def _allows_into(intent: Intent, workload: WorkloadSpec) -> list[Allow]:
    out = []
    for allow in intent.allows:
        dest = allow.destination
        if dest.segment is not None and selector_matches(intent.segments[dest.segment],
                                                          workload.labels):
            out.append(allow)
        elif dest.cidr is not None and any(
                ipaddress.ip_address(a) in ipaddress.ip_network(dest.cidr)
                for a in workload.addresses):
            out.append(allow)
    return out


def _allow_rules(chain: str, allow: Allow, members: dict[str, list[str]], use_sets: bool,
                 used_sets: set[str]) -> list[str]:
    comment = f"-m comment --comment {quoted(f'allow {allow.source} -> {allow.destination}')}"
    if allow.source.cidr is not None:
        sources = [f"-s {allow.source.cidr}"]
    elif use_sets:
        assert allow.source.segment is not None
        used_sets.add(allow.source.segment)
        sources = [f"-m set --match-set {set_name(allow.source.segment)} src"]
    else:
        assert allow.source.segment is not None
        sources = [f"-s {address}/32" for address in members[allow.source.segment]]
    rules = []
    for source in sources:
        for port in allow.ports:
            if port.proto == "icmp":
                match = "-p icmp -m icmp --icmp-type 8"
            else:
                span = str(port.low) if port.low == port.high else f"{port.low}:{port.high}"
                match = f"-p {port.proto} -m {port.proto} --dport {span}"
            # iptables-save prints generic matches before modules; keep that order so a dump of
            # the loaded table reads the same as what was rendered.
            if source.startswith("-s "):
                rules.append(f"-A {chain} {source} {match} {comment} -j ACCEPT")
            else:
                rules.append(f"-A {chain} {match} {source} {comment} -j ACCEPT")
    return rules
