"""The smallest change that allows a blocked flow: the rules that block it, and candidate
changes (an allow rule right before the deciding rule, a set member where the chain's allow
rules look one up, an intent allow line), each checked by evaluating the fleet with it applied
and ranked by what else it opens."""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, replace
from typing import Any

from collectors.intent import Allow, Intent, Peer, PortRange
from webapp.engine.analysis.changes import ChangeError, parse_changes
from webapp.engine.analysis.fleet import HostState, Workload
from webapp.engine.analysis.graph import EffectiveGraph
from webapp.engine.analysis.intended import intended_pairs, memberships
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.ports import EMPTY, PortSet
from webapp.engine.analysis.rewrite import is_log_rule
from webapp.engine.analysis.verdicts import Evidence
from webapp.engine.analysis.whatif import FleetChanger, diff_pairs, exposure, pair_ports

BUILTIN_CHAINS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")
MAX_ROUNDS = 4  # hooks and tables one flow may need opened, both hosts included
_KIND_ORDER = {"rule": 0, "set": 1, "intent": 2}


@dataclass(frozen=True, slots=True)
class AskedFlow:
    """A NEW connection from one workload to another on one protocol and port."""

    src: Workload
    dst: Workload
    proto: str
    dport: int | None
    family: int

    @property
    def ports(self) -> PortSet:
        if self.proto == "icmp":
            return PortSet.parse(["icmp"])
        assert self.dport is not None
        return PortSet.of({self.proto: [(self.dport, self.dport)]})

    def address(self, workload: Workload) -> str:
        found = workload.address(self.family)
        assert found is not None
        return found


def asked_flow(graph: EffectiveGraph, src: str, dst: str, proto: str,
               dport: int | None) -> AskedFlow:
    """The flow asked about; ValueError for an unknown workload or protocol."""
    proto = proto.lower()
    if proto not in ("tcp", "udp", "icmp"):
        raise ValueError(f"protocol {proto!r}: tcp, udp or icmp")
    if proto != "icmp" and (dport is None or not 0 <= dport <= 65535):
        raise ValueError(f"{proto} needs a destination port 0-65535")
    for name in (src, dst):
        if name not in graph.workloads:
            raise ValueError(f"no running workload named {name!r}")
    source, destination = graph.workloads[src], graph.workloads[dst]
    family = next((f for f in (4, 6) if source.address(f) and destination.address(f)), None)
    if family is None:
        raise ValueError(f"{src} and {dst} share no IP version")
    return AskedFlow(source, destination, proto, dport if proto != "icmp" else None, family)


def propose_fix(analysis: BundleAnalysis, src: str, dst: str, proto: str,
                dport: int | None) -> dict[str, Any]:
    """`segscope fix --json`: blocked_by and ranked candidates."""
    graph = analysis.graph
    flow = asked_flow(graph, src, dst, proto, dport)
    pair = graph.pair(src, dst)
    if flow.ports - pair.allowed == EMPTY:
        return {"blocked_by": [], "candidates": []}
    blockers = [e for e, _ in pair.blocking(flow.ports)]
    blocked_by = [e.to_dict() for e in blockers]
    changer = FleetChanger(analysis)
    base = pair_ports(graph)
    candidates: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    options = [[_allow_rule(graph, e, flow), *_set_members(graph, e, flow)] for e in blockers]
    for combination in itertools.product(*options):
        first = [line for line in combination if line is not None]
        if not first:
            continue
        found = _checked(changer, graph, base, flow, first)
        if found is not None and tuple(found["change"]) not in seen:
            seen.add(tuple(found["change"]))
            candidates.append(found)
    intent = _intent_candidate(analysis, flow)
    if intent is not None:
        candidates.append(intent)
    # An intent line still has to be rolled out: rules first where exposure is equal.
    candidates.sort(key=lambda c: (c["exposure"], _KIND_ORDER[c["kind"]], len(c["commands"])))
    for candidate in candidates:
        candidate["change"] = "\n".join(candidate["change"])
    return {"blocked_by": blocked_by, "candidates": candidates}


def _checked(changer: FleetChanger, graph: EffectiveGraph, base: dict[Any, PortSet],
             flow: AskedFlow, first: list[tuple[str, str]]) -> dict[str, Any] | None:
    """Apply the lines (and, while the flow stays blocked, allow rules before whatever
    blocks it next); the candidate when the flow ends up allowed, else None."""
    lines = list(first)
    touched: set[str] = set()
    try:
        for _ in range(MAX_ROUNDS):
            text = "\n".join(f"{host}: {command}" for host, command in lines)
            changes = parse_changes(text, "<fix>")
            states = [changer.changed_state(h, changes.on(h), "<fix>") for h in changes.hosts]
            changer.restore(graph, touched - set(changes.hosts))
            changer.apply(graph, states)
            touched |= set(changes.hosts)
            pair = graph.pair(flow.src.name, flow.dst.name)
            if flow.ports - pair.allowed == EMPTY:
                opens, _ = diff_pairs(base, graph, (flow.src.name, flow.dst.name, flow.ports))
                hosts = list(dict.fromkeys(host for host, _ in lines))
                kind = "set" if any(c.startswith("ipset ") for _, c in lines) else "rule"
                return {"kind": kind, "host": ", ".join(hosts),
                        "commands": [c for _, c in lines], "on": [h for h, _ in lines],
                        "change": [f"{h}: {c}" for h, c in lines],
                        "opens": opens, "exposure": exposure(opens)}
            more = [_allow_rule(graph, e, flow) for e, _ in pair.blocking(flow.ports)]
            if not more or None in more or any(line in lines for line in more):
                return None
            lines.extend(line for line in more if line is not None)
        return None
    except ChangeError:
        return None
    finally:
        changer.restore(graph, touched)


# -- an allow rule right before the deciding rule -------------------------------------------

def _allow_rule(graph: EffectiveGraph, evidence: Evidence,
                flow: AskedFlow) -> tuple[str, str] | None:
    """(host, command) inserting the narrowest allow rule where `evidence` decided."""
    state = graph.fleet.hosts.get(evidence.host)
    if state is None or state.rules is None or evidence.table == "-":
        return None
    base_chain = _is_base(state, evidence)
    iface_in = iface_out = None
    if evidence.hook == "FORWARD" and base_chain:
        if evidence.host == flow.src.host and flow.src.attachment == "bridged":
            iface_in = flow.src.interface or None
        if evidence.host == flow.dst.host and flow.dst.attachment == "bridged":
            iface_out = flow.dst.interface or None
    src, dst = flow.address(flow.src), flow.address(flow.dst)
    if evidence.family is not None:  # native nftables
        return evidence.host, _nft_command(evidence, flow, src, dst, iface_in, iface_out)
    tool = "iptables" if flow.family == 4 else "ip6tables"
    table = "" if evidence.table == "filter" else f"-t {evidence.table} "
    spec = []
    if iface_in:
        spec += ["-i", iface_in]
    if iface_out:
        spec += ["-o", iface_out]
    bits = 32 if flow.family == 4 else 128
    spec += ["-s", f"{src}/{bits}", "-d", f"{dst}/{bits}", *_iptables_proto(flow),
             "-j", "ACCEPT"]
    if evidence.policy:
        where = f"-A {evidence.chain}"
    else:
        where = f"-I {evidence.chain} {_position(state, evidence, flow.family)}"
    return evidence.host, f"{tool} {table}{where} {' '.join(spec)}"


def _iptables_proto(flow: AskedFlow) -> list[str]:
    if flow.proto == "icmp":
        if flow.family == 6:
            return ["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", "128"]
        return ["-p", "icmp", "-m", "icmp", "--icmp-type", "8"]
    return ["-p", flow.proto, "-m", flow.proto, "--dport", str(flow.dport)]


def _position(state: HostState, evidence: Evidence, family: int) -> int:
    """The deciding rule's number, moved up past the logging rules right before it: a drop's
    log line should not log the connections now accepted."""
    number = evidence.rule_number or 1
    assert state.rules is not None
    compiled = state.rules.iptables.get(family)
    chain = compiled.tables.get(evidence.table, {}).get(evidence.chain) if compiled else None
    if chain is None:
        return number
    while number > 1 and is_log_rule(chain.rules[number - 2].rule.text):
        number -= 1
    return number


def _is_base(state: HostState, evidence: Evidence) -> bool:
    if evidence.family is None:
        return evidence.chain in BUILTIN_CHAINS
    nft = state.rules.nft if state.rules is not None else None
    table = nft.tables.get((evidence.family, evidence.table)) if nft is not None else None
    chain = table.chains.get(evidence.chain) if table is not None else None
    return chain is not None and chain.is_base


def _nft_command(evidence: Evidence, flow: AskedFlow, src: str, dst: str,
                 iface_in: str | None, iface_out: str | None) -> str:
    ip = "ip" if flow.family == 4 else "ip6"
    words = []
    if iface_in:
        words.append(f'iifname "{iface_in}"')
    if iface_out:
        words.append(f'oifname "{iface_out}"')
    words += [f"{ip} saddr {src}", f"{ip} daddr {dst}"]
    if flow.proto == "icmp":
        words.append("icmp type echo-request" if flow.family == 4
                     else "icmpv6 type echo-request")
    else:
        words.append(f"{flow.proto} dport {flow.dport}")
    words.append("accept")
    where = f"{evidence.family} {evidence.table} {evidence.chain}"
    if evidence.policy or evidence.handle is None:
        return f"nft add rule {where} {' '.join(words)}"
    return f"nft insert rule {where} position {evidence.handle} {' '.join(words)}"


# -- a set member ----------------------------------------------------------------------------

def _set_members(graph: EffectiveGraph, evidence: Evidence,
                 flow: AskedFlow) -> list[tuple[str, str] | None]:
    """(host, `ipset add SET ADDR`) for each allow rule of the deciding chain, before the
    deciding rule, that looks the source (or destination) up in a one-dimension set."""
    state = graph.fleet.hosts.get(evidence.host)
    if (state is None or state.rules is None or evidence.family is not None
            or evidence.policy or not evidence.rule_number):
        return []
    compiled = state.rules.iptables.get(flow.family)
    chain = compiled.tables.get(evidence.table, {}).get(evidence.chain) if compiled else None
    if chain is None:
        return []
    out: list[tuple[str, str] | None] = []
    for crule in chain.rules[:evidence.rule_number - 1]:
        rule = crule.rule
        if rule.target != "ACCEPT":
            continue
        for match in rule.matches:
            option = match.option("match-set") or match.option("--match-set")
            if match.module != "set" or option is None or option.negated \
                    or len(option.args) != 2:
                continue
            name, dimension = option.args
            member = {"src": flow.src, "dst": flow.dst}.get(dimension)
            if member is not None and _in_set(state, name, flow.address(member)) is False:
                line = (evidence.host, f"ipset add {name} {flow.address(member)}")
                if line not in out:
                    out.append(line)
    return out


def _in_set(state: HostState, name: str, address: str) -> bool | None:
    """Whether a one-dimension address set holds an address (None: no such set, or one of
    another type, where adding the address alone means nothing)."""
    dump = state.rules.ipsets if state.rules is not None else None
    found = dump.sets.get(name) if dump is not None else None
    if found is None or found.dimensions not in (("ip",), ("net",)):
        return None
    value = ipaddress.ip_address(address)
    for member in found.members:
        part = member.values[0] if member.values else None
        if isinstance(part, ipaddress.IPv4Network | ipaddress.IPv6Network) and \
                part.version == value.version and value in part and not member.nomatch:
            return True
    return False


# -- an intent allow line --------------------------------------------------------------------

def _intent_candidate(analysis: BundleAnalysis, flow: AskedFlow) -> dict[str, Any] | None:
    """An allow line between the smallest segments of the two workloads, when the intent
    (Segscope YAML) does not allow the flow; its `opens` are the intended pairs it adds."""
    intent = analysis.intent
    if not isinstance(intent, Intent):
        return None
    workloads = analysis.fleet.workloads
    before = intended_pairs(intent, workloads)
    key = (flow.src.name, flow.dst.name)
    if flow.ports - before.get(key, EMPTY) == EMPTY:
        return None
    members = memberships(intent.segments, workloads)

    def peer(workload: Workload) -> Peer:
        own = [s for s, names in members.items() if workload.name in names]
        if own:
            return Peer(segment=min(own, key=lambda s: (len(members[s]), s)))
        bits = 32 if flow.family == 4 else 128
        return Peer(cidr=f"{flow.address(workload)}/{bits}")

    port = (PortRange("icmp", 0, 65535) if flow.proto == "icmp"
            else PortRange(flow.proto, flow.dport or 0, flow.dport or 0))
    allow = Allow(peer(flow.src), peer(flow.dst), (port,))
    after = intended_pairs(replace(intent, allows=(*intent.allows, allow)), workloads)
    if flow.ports - after.get(key, EMPTY) != EMPTY:
        return None
    opens = []
    for pair in sorted(after):
        gained = after[pair] - before.get(pair, EMPTY)
        if pair == key:
            gained = gained - flow.ports
        if gained:
            opens.append({"src": pair[0], "dst": pair[1], "allowed": gained.texts(),
                          "evidence": []})
    line = f"- {{from: {allow.source}, to: {allow.destination}, ports: [{port}]}}"
    return {"kind": "intent", "host": None, "commands": [line], "on": [None],
            "change": [], "opens": opens, "exposure": exposure(opens)}
