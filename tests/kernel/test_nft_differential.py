"""Segscope's nft verdicts against the kernel's: random native rule sets loaded with `nft -f` in
a namespace, crafted probes, and `nft monitor trace` as the oracle for verdict and rule."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from collectors.lab.probes import Probe
from collectors.nft import parse_nft_json
from tests.kernel.nft_lab import RX_ADDRESSES, Lab, TraceEvent, can_run
from webapp.engine.evaluate import explain
from webapp.engine.explanation import Explanation
from webapp.engine.nft.evaluate import compile_nft
from webapp.engine.packet import Packet
from webapp.engine.values import parse_address

pytestmark = pytest.mark.kernel

RULESETS = int(os.environ.get("SEGSCOPE_NFT_RULESETS", "40"))
PROBES = int(os.environ.get("SEGSCOPE_NFT_PROBES", "32"))
SEED = int(os.environ.get("SEGSCOPE_NFT_SEED", "20261126"))
SOURCES = ("10.200.0.2", "10.200.0.7", "10.200.0.5", "192.0.2.3", "192.0.2.4", "192.0.2.20",
           "198.51.100.5")
SOURCES6 = ("fd00:200::2", "fd00:200::7", "2001:db8::5", "fd00:99::3")
LOCAL = ("10.200.0.1", "10.200.1.1", "fd00:200::1", "fd00:201::1")
FORWARDED = ("198.51.100.7", "198.51.100.20", "fd00:51::7", "fd00:51::20")
PORTS = (22, 80, 443, 53, 1500, 8080)
SADDRS = ("192.0.2.3", "192.0.2.0/28", "10.200.0.0/24", "10.200.0.5-10.200.0.8",
          "{ 192.0.2.4, 198.51.100.0/24 }", "@a4")
DADDRS = ("10.200.0.1", "10.200.1.1", "198.51.100.0/24", "{ 10.200.0.1, 198.51.100.7 }", "@a4")
CT_STATES = ("new", "invalid", "untracked", "{ new, untracked }", "established,related",
             "!= new")
SADDRS6 = ("fd00:200::7", "fd00:200::/120", "2001:db8::/32", "{ fd00:99::3, fd00:200::2 }",
           "@a6", "fd00:200::5-fd00:200::8")
DADDRS6 = ("fd00:200::1", "fd00:201::1", "fd00:51::/64", "@a6")
IIFNAMES = ('"eth0"', '"cali*"', '!= "eth0"', "@ifs")
OIFNAMES = ('"cali0"', '"eth*"', '!= "cali0"')
NAT_PRIORITIES = (-150, -100, -90, 0, 50)
DNAT_RULES = ("ip daddr 10.200.0.1 tcp dport 80 dnat to 10.200.1.1:8080",
              "ip daddr 10.200.0.1 tcp dport { 22, 443 } dnat to :2222",
              "ip daddr 198.51.100.7 dnat to 198.51.100.20",
              "ip daddr 198.51.100.0/24 udp dport 53 dnat to 198.51.100.20:5353",
              "ip saddr 192.0.2.3 counter", "ip saddr 10.200.0.5 accept",
              "ip saddr 192.0.2.20 drop", "ip daddr 10.200.1.1 dnat to 10.200.1.1",
              "meta l4proto icmp ip daddr 10.200.0.1 dnat to 10.200.1.1")
SNAT_RULES = ('oifname "cali0" ip saddr 192.0.2.0/28 snat to 192.0.2.99',
              "meta l4proto udp snat to 192.0.2.97", "ip saddr 10.200.0.7 counter")
HOOK_PRIORITIES = {"prerouting": (-300, -250, -160, -120, -50, 0, 20),
                   "input": (-20, -5, 0, 5, 30), "forward": (-10, 0, 10),
                   "postrouting": (-10, 0, 50, 200)}


# --- random rule sets ---------------------------------------------------------------------
@dataclass
class _Chain:
    table: str
    name: str
    hook: str | None = None
    priority: int = 0
    index: int = 0  # regular chains jump only forwards, so there are no loops


class RulesetGenerator:
    """Random native nft rule sets over the lab's addresses, in `nft -f` command form."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[str] = []

    def build(self) -> str:
        rng = self.rng
        tables = [("inet", "t0")] + ([("ip", "t1")] if rng.random() < 0.5 else []) + (
            [("ip6", "t2")] if rng.random() < 0.35 else [])
        used: dict[str, set[int]] = {}
        for family, table in tables:
            self._table(family, table, used)
        if rng.random() < 0.5:
            self._nat()
        return "\n".join(self.lines) + "\n"

    def _nat(self) -> None:
        """NAT chains that keep each packet on its path (local stays local, forwarded stays
        forwarded): prerouting DNAT in one or two chains, postrouting SNAT."""
        rng = self.rng
        out = self.lines
        out.append("add table ip n0")
        for number, priority in enumerate(rng.sample(NAT_PRIORITIES, rng.randint(1, 2))):
            name = f"pre{number}"
            out.append(f"add chain ip n0 {name} {{ type nat hook prerouting priority "
                       f"{priority}; policy accept; }}")
            for rule in rng.sample(DNAT_RULES, rng.randint(1, 3)):
                out.append(f"add rule ip n0 {name} {rule}")
        if rng.random() < 0.7:
            out.append("add chain ip n0 post { type nat hook postrouting priority 100; "
                       "policy accept; }")
            for rule in rng.sample(SNAT_RULES, rng.randint(1, 2)):
                out.append(f"add rule ip n0 post {rule}")

    def _table(self, family: str, table: str, used: dict[str, set[int]]) -> None:
        rng = self.rng
        out = self.lines
        out.append(f"add table {family} {table}")
        regular = [_Chain(table, f"c{i}", index=i) for i in range(rng.randint(1, 3))]
        bases = []
        for hook, choices in HOOK_PRIORITIES.items():
            wanted = {"prerouting": rng.randint(0, 2), "input": rng.randint(1, 2),
                      "forward": rng.randint(0, 2), "postrouting": rng.randint(0, 1)}[hook]
            free = [p for p in choices if p not in used.setdefault(hook, set())]
            for priority in rng.sample(free, min(wanted, len(free))):
                used[hook].add(priority)
                bases.append(_Chain(table, f"{hook[:3]}{priority:+d}".replace("+", "p")
                                    .replace("-", "m"), hook, priority))
        for chain in bases:
            drop = rng.random() < (0.5 if chain.hook == "input" else 0.15)
            out.append(f"add chain {family} {table} {chain.name} {{ type filter hook "
                       f"{chain.hook} priority {chain.priority}; policy "
                       f"{'drop' if drop else 'accept'}; }}")
        for chain in regular:
            out.append(f"add chain {family} {table} {chain.name}")
        out.extend(f"add {line}" for line in self._sets(family, table, regular))
        for chain in bases + regular:
            for _ in range(rng.randint(1, 5)):
                out.append(f"add rule {family} {table} {chain.name} "
                           f"{self._rule(family, chain, regular)}")

    def _sets(self, family: str, table: str, regular: list[_Chain]) -> list[str]:
        target = self.rng.choice(regular).name
        where = f"{family} {table}"
        common = [
            f"set {where} svc {{ type inet_service; flags interval; elements = {{ 22, 80, "
            "1000-2000 }; }",
            f"set {where} ifs {{ type ifname; elements = {{ \"eth0\", \"lo\" }}; }}"]
        four = [
            f"set {where} a4 {{ type ipv4_addr; flags interval; elements = {{ 192.0.2.0/28, "
            "10.200.0.5-10.200.0.9, 198.51.100.5 }; }",
            f"set {where} pairs {{ type ipv4_addr . inet_service; elements = {{ 192.0.2.3 . 22,"
            " 10.200.0.7 . 80, 192.0.2.4 . 53 }; }",
            f"set {where} ipairs {{ type ipv4_addr . inet_service; flags interval; elements = "
            "{ 192.0.2.0/28 . 20-25, 10.200.0.0/29 . 443 }; }",
            f"set {where} dyn {{ type ipv4_addr; flags dynamic; }}",
            f"map {where} vm {{ type ipv4_addr : verdict; elements = {{ 192.0.2.3 : jump "
            f"{target}, 10.200.0.7 : drop, 198.51.100.5 : accept }}; }}"]
        six = [
            f"set {where} a6 {{ type ipv6_addr; flags interval; elements = {{ 2001:db8::/32, "
            "fd00:200::5-fd00:200::8, fd00:99::3 }; }",
            f"set {where} pairs6 {{ type ipv6_addr . inet_service; elements = {{ "
            "fd00:99::3 . 22, fd00:200::7 . 80 }; }",
            f"set {where} dyn6 {{ type ipv6_addr; flags dynamic; }}",
            f"map {where} vm6 {{ type ipv6_addr : verdict; elements = {{ fd00:99::3 : jump "
            f"{target}, fd00:200::7 : drop, 2001:db8::5 : accept }}; }}"]
        return common + (four if family != "ip6" else []) + (six if family != "ip" else [])

    def _rule(self, family: str, chain: _Chain, regular: list[_Chain]) -> str:
        rng = self.rng
        # nft refuses rules whose protocol dependencies conflict: one L3 and one L4 protocol
        # per rule.
        l3 = {"inet": rng.choice((None, "ip", "ip6")), "ip": rng.choice((None, "ip")),
              "ip6": rng.choice((None, "ip6"))}[family]
        protos = ["tcp", "tcp", "udp"] + (["icmp"] if l3 != "ip6" and family != "ip6" else []) \
            + (["icmpv6"] if l3 != "ip" and family != "ip" else [])
        proto = rng.choice([None, None, *protos])
        if proto in ("icmp", "icmpv6"):
            l3 = "ip" if proto == "icmp" else "ip6"
        pool = [make for need3, need4, make in self._matches(family)
                if need3 in (None, l3) and need4 in ("any", proto, "l4" if not proto else "-")]
        count = min(len(pool), rng.choice((0, 1, 1, 2, 2, 3)))
        matches = [make() for make in rng.sample(pool, count)]
        # nft 1.0.6 lists `tcp dport < 1024 tcp sport > 40000` as `tcp sport != 1024-40000`:
        # with two order comparisons in a rule the dump would not say what the kernel runs.
        ordered = [m for m in matches if re.search(r" [<>]=? ", m)]
        matches = [m for m in matches if m not in ordered[1:]]
        return " ".join(matches + [self._action(chain, regular, l3, proto)])

    def _matches(self, family: str) -> list[tuple[str | None, str, Callable[[], str]]]:
        rng = self.rng
        neg = "!= " if rng.random() < 0.2 else ""
        pick = rng.choice
        any_l3: list[tuple[str | None, str, Callable[[], str]]] = [
            (None, "l4", lambda: f"meta l4proto {pick(['tcp', 'udp', 'icmp', 'icmpv6', '{ tcp, udp }'])}"),  # noqa: E501
            (None, "tcp", lambda: f"tcp dport {neg}{pick(['22', '80', '{ 22, 443 }', '1000-2000', '@svc'])}"),  # noqa: E501
            (None, "tcp", lambda: f"tcp dport {pick(['<', '>', '<=', '>='])} {pick([80, 443, 1024])}"),  # noqa: E501
            (None, "udp", lambda: f"udp dport {neg}{pick(['53', '{ 53, 1500 }', '@svc'])}"),
            (None, "l4", lambda: f"meta l4proto {{ tcp, udp }} th dport {neg}{pick(['53', '22', '@svc'])}"),  # noqa: E501
            (None, "tcp", lambda: f"tcp sport {pick(['< 32768', '> 40000', '1234'])}"),
            (None, "tcp", lambda: pick(["tcp flags syn", "tcp flags & (syn | ack) == syn",
                                        "tcp flags ack", "tcp flags != syn"])),
            (None, "any", lambda: "iifname " + pick(IIFNAMES)),
            (None, "any", lambda: "oifname " + pick(OIFNAMES)),
            (None, "any", lambda: f"ct state {pick(CT_STATES)}"),
            (None, "any", lambda: f"meta mark {pick(['0x0', '0x1', '0x2', '& 0x3 == 0x1'])}"),
            (None, "any", lambda: f"ct mark {pick(['0x0', '0x5'])}"),
            (None, "any", lambda: f"fib daddr type {pick(['local', '!= local', '{ local, broadcast }'])}"),  # noqa: E501
            (None, "any", lambda: f"meta pkttype {pick(['host', 'broadcast'])}"),
            (None, "any", lambda: f"ct status {pick(['dnat', 'snat', 'dnat,snat', '!= dnat'])}"),
            (None, "tcp", lambda: f"tcp dport {pick(['8080', '2222', '{ 2222, 8080 }'])}"),
        ]
        four: list[tuple[str | None, str, Callable[[], str]]] = [
            ("ip", "any", lambda: f"ip saddr {neg}{pick(SADDRS)}"),
            ("ip", "any", lambda: f"ip daddr {neg}{pick(DADDRS)}"),
            ("ip", "icmp", lambda: f"icmp type {pick(['echo-request', 'timestamp-request', '{ echo-request, echo-reply }'])}"),  # noqa: E501
            ("ip", "icmp", lambda: "ip protocol icmp"),
            ("ip", "tcp", lambda: f"ip saddr . tcp dport {pick(['@pairs', '@ipairs', '{ 192.0.2.3 . 22, 10.200.0.5 . 80 }'])}"),  # noqa: E501
            ("ip", "any", lambda: "ip daddr . meta l4proto { 10.200.0.1 . tcp, 198.51.100.7 . icmp }"),  # noqa: E501
            ("ip", "any", lambda: f"ip ttl {pick(['64', '< 64', '63', '!= 2'])}"),
            ("ip", "any", lambda: "ip saddr @dyn"),
            ("ip", "any", lambda: f"ct original ip daddr {pick(['10.200.0.1', '198.51.100.7'])}"),
            ("ip", "any", lambda: f"ip saddr {pick(['192.0.2.99', '192.0.2.97'])}"),
        ]
        six: list[tuple[str | None, str, Callable[[], str]]] = [
            ("ip6", "any", lambda: f"ip6 saddr {neg}{pick(SADDRS6)}"),
            ("ip6", "any", lambda: f"ip6 daddr {neg}{pick(DADDRS6)}"),
            ("ip6", "any", lambda: f"ip6 hoplimit {pick(['64', '< 64', '63'])}"),
            ("ip6", "l4", lambda: f"ip6 nexthdr {pick(['tcp', 'udp', 'icmpv6', '{ tcp, udp }'])}"),
            ("ip6", "icmpv6", lambda: f"icmpv6 type {pick(['echo-request', 'echo-reply', '{ echo-request, nd-neighbor-solicit }'])}"),  # noqa: E501
            ("ip6", "tcp", lambda: "ip6 saddr . tcp dport @pairs6"),
            ("ip6", "any", lambda: "ip6 saddr @dyn6"),
        ]
        out = any_l3 + (four if family != "ip6" else []) + (six if family != "ip" else [])
        if family == "inet":
            out += [("ip", "any", lambda: "meta nfproto ipv4"),
                    ("ip6", "any", lambda: "meta nfproto ipv6")]
        return out

    def _action(self, chain: _Chain, regular: list[_Chain], l3: str | None,
                proto: str | None) -> str:
        rng = self.rng
        later = [c for c in regular if chain.hook or c.index > chain.index]
        options = ["accept", "drop", "counter", "meta mark set 0x1", "ct mark set 0x5"]
        if l3 == "ip":
            options += ["add @dyn { ip saddr }", "ip saddr vmap @vm" if chain.hook else "counter"]
        if l3 == "ip6":
            options += ["add @dyn6 { ip6 saddr }",
                        "ip6 saddr vmap @vm6" if chain.hook else "counter"]
        if proto == "tcp":
            options += ["meta mark set tcp dport map { 22 : 0x2, 80 : 0x1 }",
                        "tcp dport vmap { 22 : accept, 80 : drop, 1000-2000 : continue }"]
        if later:
            target = rng.choice(later).name
            options += [f"jump {target}", f"goto {target}", f"jump {target}"]
            if proto is None:
                options.append(f"meta l4proto vmap {{ tcp : jump {target}, icmp : accept }}")
        if chain.hook is None:
            options += ["return", "return"]
        if chain.hook in ("input", "forward"):
            options += ["reject"] + (["reject with icmpx admin-prohibited"]
                                     if chain.table == "t0" else [])
            if l3 != "ip6" and chain.table != "t2":
                options.append("reject with icmp host-prohibited")
            if l3 != "ip" and chain.table != "t1":
                options.append("reject with icmpv6 admin-prohibited")
            if proto == "tcp" and l3 is None:
                # nft 1.0.6 lists `meta nfproto ipv4 reject with tcp reset` without the
                # nfproto match, so only rules without one are comparable.
                options.append("reject with tcp reset")
        if chain.hook == "prerouting" and chain.priority < -200:
            options += ["notrack", "notrack"]
        return rng.choice(options)


def random_probes(rng: random.Random, count: int, first_id: int) -> list[Probe]:
    """IPv4 and IPv6 probes with unique source ports per protocol (NAT never remaps one)."""
    probes: list[Probe] = []
    seen: set[tuple[object, ...]] = set()
    while len(probes) < count:
        six = rng.random() < 0.3
        proto = rng.choice(("tcp", "tcp", "udp", "icmp"))
        src = rng.choice(SOURCES6 if six else SOURCES)
        dst = rng.choice([a for a in LOCAL + FORWARDED if (":" in a) == six])
        sport = rng.choice((1234, 22000, rng.randint(32768, 60999), rng.randint(40001, 60999)))
        dport = rng.choice(PORTS) if rng.random() < 0.8 else rng.randint(1000, 2000)
        key = (proto, sport)
        if proto != "icmp" and key in seen:
            continue
        seen.add(key)
        ttl = rng.choice((64, 64, 64, 63, 2))
        icmp_type = 128 if six else rng.choice((8, 8, 13))
        probes.append(Probe(ip_id=first_id + len(probes), src=src, dst=dst, proto=proto,
                            sport=sport, dport=dport, icmp_type=icmp_type, ttl=ttl))
    return probes


# --- comparing the kernel's account with Segscope's ------------------------------------------
Event = tuple[str, str, str, int | None, str]  # family, table, chain, handle, verdict


def kernel_events(events: list[TraceEvent]) -> list[Event]:
    out: list[Event] = []
    for e in events:
        if e.table == "ssn_tracer" or e.kind not in ("rule", "policy"):
            continue
        verdict = e.verdict or ""
        out.append((e.family, e.table, e.chain, e.handle,
                    f"policy {verdict}" if e.kind == "policy" else verdict))
    return out


def engine_events(result: Explanation) -> list[Event]:
    out: list[Event] = []
    for step in result.trace:
        if step.kind == "return" and step.rule_number is None:
            continue  # the kernel does not trace falling off the end of a chain
        family, table = step.table.split(" ", 1)
        if step.kind == "policy":
            out.append((family, table, step.chain, None, f"policy {str(step.verdict).lower()}"))
            continue
        found = re.match(r"handle (\d+)", step.note or "")
        handle = int(found.group(1)) if found else None
        verdict = step.kind if step.kind in ("jump", "goto", "return") else {
            "ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", None: "continue"}[step.verdict]
        out.append((family, table, step.chain, handle, verdict))
    return out


def kernel_verdict(events: list[TraceEvent], complete: bool, texts: dict[object, str]) -> str:
    """DROP, REJECT (a drop by a rule that rejects), ACCEPT, or NO-TRACE if the trace stopped."""
    for e in events:
        if e.verdict == "drop" and e.table != "ssn_tracer":
            text = texts.get((e.family, e.table, e.chain, e.handle), "")
            return "REJECT" if text.startswith("reject") or " reject" in text else "DROP"
    return "ACCEPT" if complete else "NO-TRACE"


def test_nft_verdicts_and_deciding_rules_equal_the_kernels():
    reason = can_run()
    if reason:
        pytest.skip(reason)
    rng = random.Random(SEED)
    local = {v: frozenset(parse_address(a)[1] for a in RX_ADDRESSES if (":" in a) == (v == 6))
             for v in (4, 6)}
    stats = {"rulesets": 0, "probes": 0, "agree": 0, "drop": 0, "accept": 0, "reject": 0,
             "forward": 0}
    disagreements: list[str] = []
    texts: dict[int, str] = {}
    with Lab(f"{os.getpid() % 100000}") as lab:
        for number in range(RULESETS):
            text = RulesetGenerator(rng).build()
            lab.load(text)
            ruleset = parse_nft_json(lab.ruleset_json(), f"ruleset-{number}.json")
            chains = compile_nft(ruleset, skip_tables={("inet", "ssn_tracer")}).base_chains
            probes = random_probes(rng, PROBES, 1000 + number * 100)
            lab.forget()
            # Sets that rules fill (`add @dyn`) keep what earlier probes put there; the dump
            # Segscope reads has them empty, so each probe starts from that state.
            flush = "".join(f"flush set {f} {t} {name}\n" for (f, t), table in
                            ruleset.tables.items() for name in ("dyn", "dyn6")
                            if name in table.sets)
            complete: dict[int, bool] = {}
            for probe in probes:
                if flush:
                    lab.nft(flush)
                complete[probe.ip_id] = lab.trace_one(probe, deadline=5.0)
            stats["rulesets"] += 1
            for probe in probes:
                events = lab.events(probe.ip_id)
                reached = complete[probe.ip_id] and _reached_end(events, ruleset, probe)
                problem = _compare(probe, events, reached, chains, local, ruleset)
                stats["probes"] += 1
                hook = _hook_of(probe)
                stats["forward"] += hook == "FORWARD"
                if problem:
                    disagreements.append(f"ruleset {number}, {probe}: {problem}")
                    texts.setdefault(number, text)
                else:
                    stats["agree"] += 1
                    stats[kernel_verdict(events, reached, _texts(ruleset)).lower()] += 1
    print(f"\nnft differential: {stats}")
    if disagreements:
        first = min(texts)
        pytest.fail(f"{len(disagreements)} disagreements in {len(texts)} rule sets; first ones:\n"
                    + "\n".join(disagreements[:8]) + f"\n\nrule set {first}:\n{texts[first]}")
    assert stats["rulesets"] >= 30 or RULESETS < 30
    assert stats["probes"] >= 1000 or RULESETS * PROBES < 1000


def _texts(ruleset) -> dict[object, str]:
    return {(r.family, r.table, r.chain, r.handle): r.text for r in ruleset.rules()}


def _hook_of(probe: Probe) -> str:
    return "INPUT" if probe.dst in LOCAL else "FORWARD"


def _reached_end(events: list[TraceEvent], ruleset, probe: Probe) -> bool:
    """Whether the kernel's trace shows the packet crossing the last hook of its path that has
    filter chains (NAT chains may rightly be skipped, so they do not count)."""
    order = {"INPUT": ("prerouting", "input"),
             "FORWARD": ("prerouting", "forward", "postrouting")}[_hook_of(probe)]
    entered = {(e.family, e.table, e.chain) for e in events if e.kind == "packet"}
    families = ("inet", "ip6") if ":" in probe.src else ("inet", "ip")
    for hook in reversed(order):
        chains = {(c.family, c.table, c.name) for c in ruleset.base_chains()
                  if c.hook == hook and c.type != "nat" and c.table != "ssn_tracer"
                  and c.family in families}
        if chains:
            return bool(chains & entered) or any(e.verdict == "drop" for e in events)
    return True


def _compare(probe: Probe, events: list[TraceEvent], complete: bool, chains, local, ruleset
             ) -> str | None:
    hook = _hook_of(probe)
    packet = Packet(src=probe.src, dst=probe.dst, proto=probe.proto,
                    sport=probe.sport if probe.proto != "icmp" else None,
                    dport=probe.dport if probe.proto != "icmp" else None,
                    icmp_type=probe.icmp_type, in_iface="eth0",
                    out_iface="cali0" if hook == "FORWARD" else None, ttl=probe.ttl,
                    tcp_flags="SYN" if probe.proto == "tcp" else None)
    result = explain(list(chains.get(packet.family, [])), packet, hook, local[packet.family])
    want = kernel_verdict(events, complete, _texts(ruleset))
    if result.verdict != want:
        return f"verdict: kernel {want}, Segscope {result.verdict}\n kernel   " \
               f"{kernel_events(events)}\n segscope {engine_events(result)}" \
               f"\n possible {[o.to_dict() for o in result.possible]}"
    kernel, ours = kernel_events(events), engine_events(result)
    if kernel != ours:
        return f"trace differs:\n kernel   {kernel}\n segscope {ours}"
    decided = result.decided_by
    ours_decider = (decided.family, decided.table, decided.chain,
                    None if decided.policy else decided.handle) if decided else None
    if ours_decider != _kernel_decider(events, hook, ruleset):
        return f"deciding rule: kernel {_kernel_decider(events, hook, ruleset)}, " \
               f"Segscope {ours_decider}"
    return None


def _kernel_decider(events: list[TraceEvent], hook: str, ruleset):
    """The kernel's deciding rule, chosen as `explain` chooses: the dropping rule, else the
    last rule that accepted on the path's own hook, else its priority-0 policy."""
    hooks = {(c.family, c.table, c.name): (c.hook, c.priority) for c in ruleset.base_chains()}
    finals = []  # (hook, priority, decider, is_policy)
    base = None
    for e in events:
        if e.table == "ssn_tracer":
            continue
        if e.kind == "packet":
            base = hooks.get((e.family, e.table, e.chain))
            continue
        decider = (e.family, e.table, e.chain, e.handle if e.kind == "rule" else None)
        if e.verdict == "drop":
            return decider
        if e.verdict == "accept" and base is not None:
            finals.append((base[0], base[1], decider, e.kind == "policy"))
    main = [f for f in finals if f[0] == hook.lower()]
    for _, _, decider, policy in reversed(main):
        if not policy:
            return decider
    for _, priority, decider, _ in main:
        if priority == 0:
            return decider
    if main:
        return main[-1][2]
    return finals[-1][2] if finals else None
