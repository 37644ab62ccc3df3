"""Random iptables matches, each with a hint that shapes a probe to satisfy or miss it.

A hint is best effort: it moves the fields its match looks at, and the kernel decides what the
probe really does. Every match kind the engine models has a generator here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from collectors.lab.netns import INGRESS
from tests.kernel.addresses import (
    FORWARDED,
    LOCAL,
    Cidr,
    edge_inside,
    edge_outside,
    random_cidr,
    random_source,
    text,
)
from tests.kernel.drafts import (
    BROADCAST,
    COMMON_PORTS,
    FORWARD_RANGE,
    INVALID_ICMP_TYPES,
    INVALID_TCP_FLAGS,
    MULTICAST,
    NEW_ICMP_TYPES,
    NEW_TCP_FLAGS,
    Draft,
    random_local,
)
from tests.kernel.ipsets import EGRESS, IpSet, shape

Hint = Callable[["Context", Draft, bool], None]
TCP_FLAGS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32}
ICMP_TYPES = {"8": (8, None), "echo-request": (8, 0), "0/0": (0, 0), "8/0": (8, 0),
              "0": (0, None), "echo-reply": (0, 0), "3": (3, None),
              "destination-unreachable": (3, None), "13": (13, None),
              "timestamp-request": (13, 0), "14/0": (14, 0), "any": (None, None), "11": (11, None)}
IN_PATTERNS = ("eth0", "eth+", "cali+", "cali1234abcd", "e+", "+", "eth1", "cali5678ef01", "c+",
               "eth0+", "cali1234")
OUT_PATTERNS = ("eth1", "eth+", "cali+", "cali5678ef01", "+", "eth0", "c+", "cali5678")


@dataclass(frozen=True, slots=True)
class Match:
    """Text of one match (as `iptables-restore` takes it) and its hint."""

    args: str
    hint: Hint | None = None
    first: bool = False


@dataclass(slots=True)
class Rule:
    """One generated rule: where it lives, its matches and target, and what it jumps to."""

    table: str
    chain: str
    matches: list[Match]
    target: str
    jump: str | None = None
    mark: int | None = None

    def text(self) -> str:
        words = [m.args for m in self.matches] + ([self.target] if self.target else [])
        return " ".join(["-A", self.chain, *words])

    def apply(self, ctx: Context, draft: Draft, probability: float) -> None:
        """Run every hint, each satisfied with `probability` (protocol hints first)."""
        if id(self) in ctx.applying:
            return  # a MARK rule whose own matches ask for the mark it sets
        ctx.applying.add(id(self))
        try:
            for match in sorted(self.matches, key=lambda m: not m.first):
                if match.hint is not None:
                    match.hint(ctx, draft, ctx.rng.random() < probability)
        finally:
            ctx.applying.discard(id(self))


@dataclass(slots=True)
class Context:
    """What hints may lean on: the random source and the rules other matches depend on."""

    rng: random.Random
    explicit_flags: bool
    sets: list[IpSet] = field(default_factory=list)
    mark_rules: list[Rule] = field(default_factory=list)
    connmark_rules: list[Rule] = field(default_factory=list)
    notrack_rules: list[Rule] = field(default_factory=list)
    dnat_rules: list[Rule] = field(default_factory=list)
    applying: set[int] = field(default_factory=set)


def neg(rng: random.Random, chance: float) -> bool:
    return rng.random() < chance


def bang(negated: bool) -> str:
    return "! " if negated else ""


def iface_matches(pattern: str, name: str | None) -> bool:
    if name is None:
        return False
    return name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern


def source(rng: random.Random) -> Match:
    net = random_cidr(rng, random_source(rng))
    negated = neg(rng, 0.15) and net.prefixlen > 0  # the kernel refuses `! -s 0.0.0.0/0`

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        pick = edge_inside if satisfy != negated else edge_outside
        address = pick(ctx.rng, net)
        if address is not None:
            draft.src = address

    return Match(f"{bang(negated)}-s {net}", hint)


def destination(rng: random.Random, kind: str) -> Match:
    domain = LOCAL if kind == "input" else FORWARD_RANGE if kind == "forward" else rng.choice(
        (LOCAL, FORWARD_RANGE))
    net = random_cidr(rng, rng.randint(domain.first, domain.last), shortest=rng.choice((0, 16, 20)))
    negated = neg(rng, 0.15) and net.prefixlen > 0

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        pick = edge_inside if satisfy != negated else edge_outside
        address = pick(ctx.rng, net, draft.dst_domain)
        if address is not None:
            draft.dst = address

    return Match(f"{bang(negated)}-d {net}", hint)


def in_iface(rng: random.Random) -> Match:
    pattern, negated = rng.choice(IN_PATTERNS), neg(rng, 0.2)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        names = [n for n in sorted(INGRESS) if iface_matches(pattern, n) == (satisfy != negated)]
        if names:
            draft.in_iface = ctx.rng.choice(names)

    return Match(f"{bang(negated)}-i {pattern}", hint)


def out_iface(rng: random.Random) -> Match:
    pattern, negated = rng.choice(OUT_PATTERNS), neg(rng, 0.2)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        names = [n for n in EGRESS if iface_matches(pattern, n) == (satisfy != negated)]
        if names and draft.hook == "FORWARD":
            wanted = ctx.rng.choice(names)
            net = next(n for n, i in FORWARDED.items() if i == wanted)
            draft.dst = ctx.rng.randint(net.first, net.last)

    return Match(f"{bang(negated)}-o {pattern}", hint)


def protocol(rng: random.Random, proto: str, negated: bool = False) -> Match:
    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        if satisfy != negated:
            draft.set_proto(ctx.rng, proto)
        elif draft.proto == proto:
            draft.set_proto(ctx.rng, ctx.rng.choice([p for p in ("tcp", "udp", "icmp")
                                                     if p != proto]))

    return Match(f"{bang(negated)}-p {proto}", hint, first=True)


def port_spec(rng: random.Random) -> tuple[str, int, int]:
    roll = rng.random()
    if roll < 0.55:
        port = rng.choice(COMMON_PORTS) if rng.random() < 0.7 else rng.randint(1, 65535)
        return str(port), port, port
    if roll < 0.65:
        high = rng.choice((1023, 1024, 32767))
        return f":{high}", 0, high
    if roll < 0.75:
        low = rng.choice((1024, 32768, 60000))
        return f"{low}:", low, 65535
    low = rng.randint(1, 64000)
    high = min(65535, low + rng.choice((1, 10, 100, 1000)))
    return f"{low}:{high}", low, high


def _port_inside(rng: random.Random, low: int, high: int) -> int:
    return max(1, rng.choice((low, high, rng.randint(low, high))))


def _port_outside(rng: random.Random, ranges: list[tuple[int, int]]) -> int | None:
    candidates = [p for low, high in ranges for p in (low - 1, high + 1)]
    candidates += [rng.randint(1, 65535) for _ in range(10)]
    rng.shuffle(candidates)
    for port in candidates:
        if 1 <= port <= 65535 and not any(low <= port <= high for low, high in ranges):
            return port
    return None


def ports(rng: random.Random, name: str) -> Match:
    spec, low, high = port_spec(rng)
    negated = neg(rng, 0.15)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        if satisfy != negated:
            value: int | None = _port_inside(ctx.rng, low, high)
        else:
            value = _port_outside(ctx.rng, [(low, high)])
        if value is not None:
            setattr(draft, name, value)

    return Match(f"{bang(negated)}--{name} {spec}", hint)


def multiport(rng: random.Random) -> Match:
    option = rng.choices(("dports", "sports", "ports"), (6, 1, 2))[0]
    items: list[tuple[int, int]] = []
    words: list[str] = []
    budget = rng.randint(1, 8)
    while budget > 0:
        spec, low, high = port_spec(rng)
        if spec.startswith(":") or spec.endswith(":"):
            continue
        items.append((low, high))
        words.append(spec)
        budget -= 2 if low != high else 1
    negated = neg(rng, 0.15)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        fields = {"dports": ["dport"], "sports": ["sport"],
                  "ports": [ctx.rng.choice(("sport", "dport"))]}[option]
        if satisfy != negated:
            low, high = ctx.rng.choice(items)
            setattr(draft, fields[0], _port_inside(ctx.rng, low, high))
        else:
            for name in (["sport", "dport"] if option == "ports" else fields):
                value = _port_outside(ctx.rng, items)
                if value is not None:
                    setattr(draft, name, value)

    return Match(f"-m multiport {bang(negated)}--{option} {','.join(words)}", hint)


def icmp_type(rng: random.Random) -> Match:
    spec = rng.choice(sorted(ICMP_TYPES))
    wanted_type, wanted_code = ICMP_TYPES[spec]
    negated = neg(rng, 0.15)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        draft.set_proto(ctx.rng, "icmp")
        matching = [t for t in NEW_ICMP_TYPES + INVALID_ICMP_TYPES
                    if wanted_type is None or t == wanted_type]
        if satisfy == negated:
            matching = [t for t in NEW_ICMP_TYPES + INVALID_ICMP_TYPES if t not in matching]
        if matching:
            draft.icmp_type = ctx.rng.choice(matching)

    return Match(f"-m icmp {bang(negated)}--icmp-type {spec}", hint)


def _flag_bits(names: str) -> int:
    if names == "ALL":
        return 0x3F
    if names == "NONE":
        return 0
    return sum(TCP_FLAGS[n] for n in names.split(","))


def tcp_flags(rng: random.Random) -> Match:
    negated = neg(rng, 0.2)
    if rng.random() < 0.4:
        mask, comp, args = 0x17, 0x02, f"{bang(negated)}--syn"
    else:
        mask_text = rng.choice(("SYN,ACK", "SYN,RST,ACK,FIN", "ALL", "FIN,SYN,RST,ACK", "SYN",
                                "ACK,FIN", "RST", "SYN,FIN"))
        mask = _flag_bits(mask_text)
        names = [n for n in TCP_FLAGS if mask & TCP_FLAGS[n]]
        chosen = [n for n in names if rng.random() < 0.4]
        comp_text = ",".join(chosen) if chosen else "NONE"
        comp = _flag_bits(comp_text)
        args = f"{bang(negated)}--tcp-flags {mask_text} {comp_text}"

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        options = [("SYN", False), ("ACK", True)]
        if ctx.explicit_flags:
            options += [(f, False) for f in NEW_TCP_FLAGS + INVALID_TCP_FLAGS]
        wanted = satisfy != negated
        fitting = [o for o in options if ((_flag_bits(o[0]) & mask) == comp) == wanted]
        if fitting:
            flags, established = ctx.rng.choice(fitting)
            draft.established = established
            draft.tcp_flags = None if (flags, established) in (("SYN", False), ("ACK", True)) \
                else flags

    return Match(f"-m tcp {args}", hint)


def match_set(rng: random.Random, ipset: IpSet) -> Match:
    flags = ipset.flags(rng)
    negated = neg(rng, 0.15)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        shape(ctx.rng, draft, ipset, flags, satisfy != negated)

    return Match(f"-m set {bang(negated)}--match-set {ipset.name} {flags}", hint)


def iprange(rng: random.Random, kind: str) -> Match:
    direction = rng.choice(("src", "dst"))
    if direction == "src":
        low = random_source(rng)
        domain = None
    else:
        domain = LOCAL if kind == "input" else FORWARD_RANGE if kind == "forward" else rng.choice(
            (LOCAL, FORWARD_RANGE))
        low = rng.randint(domain.first, domain.last)
    high = min(0xFFFFFFFF, low + rng.choice((0, 1, 7, 100, 1000, 70000)))
    if domain is not None:
        high = min(high, domain.last)
    negated = neg(rng, 0.2)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        span = Cidr(low, 32)
        pick_domain = None if direction == "src" else draft.dst_domain
        candidates = [low, high, ctx.rng.randint(low, high)] if satisfy != negated else [
            low - 1, high + 1, edge_outside(ctx.rng, span, pick_domain) or low - 1]
        for address in candidates:
            inside = low <= address <= high
            if inside != (satisfy != negated):
                continue
            if direction == "src" and edge_inside(ctx.rng, Cidr(address, 32)) is not None:
                draft.src = address
                return
            if direction == "dst" and address in draft.dst_domain:
                draft.dst = address
                return

    return Match(f"-m iprange {bang(negated)}--{direction}-range {text(low)}-{text(high)}", hint)


def addrtype(rng: random.Random) -> Match:
    direction = rng.choices(("dst", "src"), (4, 1))[0]
    kinds = ("LOCAL", "UNICAST", "MULTICAST", "BROADCAST")
    kind = rng.choices(kinds, (4, 3, 2, 1))[0]
    negated = neg(rng, 0.25)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        if direction == "src":
            return
        wanted = {kind} if satisfy != negated else set(kinds) - {kind}
        if draft.hook == "FORWARD":
            return
        choices = [k for k in ("LOCAL", "MULTICAST", "BROADCAST") if k in wanted]
        if not choices:
            return
        choice = ctx.rng.choice(choices)
        if choice == "LOCAL":
            if draft.dst not in LOCAL:
                draft.dst = random_local(ctx.rng)
        elif choice == "MULTICAST":
            if draft.proto == "tcp":
                draft.set_proto(ctx.rng, ctx.rng.choice(("udp", "icmp")))
            draft.dst, draft.established = MULTICAST, False
        else:
            draft.set_proto(ctx.rng, "udp")
            draft.dst, draft.established = BROADCAST, False

    return Match(f"-m addrtype {bang(negated)}--{direction}-type {kind}", hint)


def comment(rng: random.Random) -> Match:
    words = rng.choice(("allow web", "kube-proxy: svc/default", "cali:Xy1_abc", "ssk rule",
                        "drop \\\"bad\\\" hosts"))
    return Match(f'-m comment --comment "{words}"')


def pkttype(rng: random.Random) -> Match:
    """`-m pkttype`: the link-layer kind, unicast unless sent to a multicast or broadcast MAC."""
    kind, negated = rng.choice(("unicast", "broadcast", "multicast")), neg(rng, 0.25)

    def hint(ctx: Context, draft: Draft, satisfy: bool) -> None:
        wanted = kind if satisfy != negated else ctx.rng.choice(
            [k for k in ("unicast", "broadcast", "multicast") if k != kind])
        if wanted == "unicast":
            if draft.dst in (MULTICAST, BROADCAST):
                draft.dst = random_local(ctx.rng) if draft.hook == "INPUT" else draft.dst
        elif draft.hook == "INPUT":
            if wanted == "multicast" and draft.proto == "tcp":
                draft.set_proto(ctx.rng, "udp")
            draft.dst = MULTICAST if wanted == "multicast" else BROADCAST
            if wanted == "broadcast":
                draft.set_proto(ctx.rng, "udp")
            draft.established = False

    return Match(f"-m pkttype {bang(negated)}--pkt-type {kind}", hint)


def ttl(rng: random.Random) -> Match:
    """`-m ttl`: probes leave with TTL 64, and a forwarded packet has lost one by FORWARD."""
    option = rng.choice(("eq", "lt", "gt"))
    value = rng.choice((63, 64, 65, 1))
    negated = option == "eq" and neg(rng, 0.3)
    return Match(f"-m ttl {bang(negated)}--ttl-{option} {value}")


def ipsec_policy(rng: random.Random) -> Match:
    """`-m policy --dir in`: nothing in the lab is IPsec, so `--pol none` always holds."""
    return Match(f"-m policy --dir in --pol {rng.choice(('none', 'none', 'ipsec'))}")
