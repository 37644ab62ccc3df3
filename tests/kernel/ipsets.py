"""Random ipsets for the generator, and how to shape a probe into or out of one.

Each set has a role: `src` sets hold source-like addresses, `dst` sets hold addresses the host
owns or forwards to, so that a probe can really be made to match them.
"""

from __future__ import annotations

import random
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
from tests.kernel.drafts import COMMON_PORTS, FORWARD_RANGE, Draft

EGRESS = sorted(FORWARDED.values())
SET_TYPES = ("hash:ip", "hash:net", "hash:ip,port", "hash:net,port", "hash:net,iface",
             "bitmap:port", "list:set")
DIMENSIONS = {"hash:ip": ("ip",), "hash:net": ("ip",), "hash:ip,port": ("ip", "port"),
              "hash:net,port": ("ip", "port"), "hash:net,iface": ("ip", "iface"),
              "bitmap:port": ("port",)}
ICMP_ENTRIES = {"icmp:echo-request": 8, "icmp:8/0": 8, "icmp:echo-reply": 0, "icmp:13/0": 13}


@dataclass(slots=True)
class Entry:
    """One member: an address or network, a protocol and port, an interface; maybe nomatch."""

    net: Cidr | None = None
    proto: str | None = None
    port: int | None = None
    iface: str | None = None
    nomatch: bool = False

    @property
    def key(self) -> tuple[object, ...]:
        return (self.net, self.proto, self.port, self.iface)

    def save_text(self, set_type: str) -> str:
        parts = []
        if self.net is not None:
            parts.append(text(self.net.first) if set_type == "hash:ip" or (
                self.net.prefixlen == 32 and set_type == "hash:ip,port") else str(self.net))
        if self.port is not None or self.proto is not None:
            if self.proto in ("tcp", "udp"):
                parts.append(f"{self.proto}:{self.port}")
            elif self.proto is not None:
                parts.append(self.proto)
            else:
                parts.append(str(self.port))
        if self.iface is not None:
            parts.append(self.iface)
        return ",".join(parts) + (" nomatch" if self.nomatch else "")


@dataclass(slots=True)
class IpSet:
    """A set as `ipset save` writes it, with its role (`src` or `dst`) and members."""

    name: str
    type: str
    role: str
    entries: list[Entry] = field(default_factory=list)
    members: list[IpSet] = field(default_factory=list)
    port_range: tuple[int, int] = (0, 65535)
    netmask: int | None = None

    @property
    def dimensions(self) -> tuple[str, ...]:
        if self.type == "list:set":
            return max((m.dimensions for m in self.members), key=len)
        return DIMENSIONS[self.type]

    def save_lines(self) -> list[str]:
        if self.type == "list:set":
            header = f"create {self.name} list:set size 8"
            return [header] + [f"add {self.name} {member.name}" for member in self.members]
        if self.type == "bitmap:port":
            low, high = self.port_range
            header = f"create {self.name} bitmap:port range {low}-{high}"
        else:
            header = f"create {self.name} {self.type} family inet hashsize 1024 maxelem 65536"
            if self.netmask is not None:
                header += f" netmask {self.netmask}"
        return [header] + [f"add {self.name} {e.save_text(self.type)}" for e in self.entries]

    def flags(self, rng: random.Random) -> str:
        """`--match-set` flags that usually fit the role, now and then the other way round."""
        dims = self.dimensions
        first = self.role if rng.random() < 0.85 else ("dst" if self.role == "src" else "src")
        if len(dims) == 1:
            return first
        if dims[1] == "iface":
            other = "src" if first == "dst" else "dst"
            return f"{first},{first}" if rng.random() < 0.85 else f"{first},{other}"
        return f"{first},{rng.choices(('dst', 'src'), (4, 1))[0]}"


def random_port(rng: random.Random) -> int:
    return rng.choice(COMMON_PORTS) if rng.random() < 0.6 else rng.randint(1, 65535)


def _address_net(rng: random.Random, role: str, host: bool) -> Cidr:
    if role == "src":
        around = random_source(rng)
        return Cidr.around(around, 32) if host else random_cidr(rng, around, shortest=8)
    domain = LOCAL if rng.random() < 0.6 else FORWARD_RANGE
    around = rng.randint(domain.first, domain.last)
    return Cidr.around(around, 32) if host else random_cidr(rng, around, shortest=16)


def make_set(rng: random.Random, name: str, set_type: str, existing: list[IpSet]) -> IpSet:
    """A set of `set_type` with a handful of entries (nomatch holes in hash:net types)."""
    role = "src" if rng.random() < 0.6 else "dst"
    ipset = IpSet(name, set_type, role)
    if set_type == "list:set":
        candidates = [s for s in existing if s.type != "list:set"]
        ipset.members = rng.sample(candidates, min(len(candidates), rng.randint(1, 3)))
        ipset.role = ipset.members[0].role if ipset.members else role
        return ipset
    if set_type == "bitmap:port":
        low = rng.choice((0, 1, 1000, 20000))
        high = min(65535, low + rng.choice((1000, 10000, 65535)))
        ipset.port_range = (low, high)
        ports = {rng.randint(low, high) for _ in range(rng.randint(1, 6))}
        ports |= {p for p in COMMON_PORTS if low <= p <= high and rng.random() < 0.3}
        ipset.entries = [Entry(port=p) for p in sorted(ports)]
        return ipset
    host = set_type.startswith("hash:ip")
    if set_type == "hash:ip" and rng.random() < 0.2:
        ipset.netmask = rng.choice((16, 24, 30))
    keys = set()
    for _ in range(rng.randint(1, 6)):
        entry = Entry(net=_address_net(rng, role, host))
        if ipset.netmask is not None and entry.net is not None:
            # Members are stored as their network: probes may use any address in it.
            entry.net = Cidr.around(entry.net.first, ipset.netmask)
        if "port" in set_type:
            roll = rng.random()
            if roll < 0.1 and set_type == "hash:ip,port":
                entry.proto = rng.choice(sorted(ICMP_ENTRIES))
            else:
                entry.proto = "udp" if roll < 0.35 else "tcp"
                entry.port = random_port(rng)
        if set_type == "hash:net,iface":
            entry.iface = rng.choice(sorted(INGRESS) if role == "src" else EGRESS)
        if entry.key not in keys:
            keys.add(entry.key)
            ipset.entries.append(entry)
    if set_type in ("hash:net", "hash:net,port", "hash:net,iface") and rng.random() < 0.5:
        parent = rng.choice(ipset.entries)
        if parent.net is not None and parent.net.prefixlen < 32:
            hole = random_cidr(rng, rng.randint(parent.net.first, parent.net.last),
                               shortest=parent.net.prefixlen + 1)
            entries = [Entry(hole, parent.proto, parent.port, parent.iface, True)]
            if hole.prefixlen < 31 and rng.random() < 0.5:
                inner = random_cidr(rng, rng.randint(hole.first, hole.last),
                                    shortest=hole.prefixlen + 1)
                entries.append(Entry(inner, parent.proto, parent.port, parent.iface))
            for entry in entries:
                if entry.key not in keys:
                    keys.add(entry.key)
                    ipset.entries.append(entry)
    return ipset


def shape(rng: random.Random, draft: Draft, ipset: IpSet, flags: str, inside: bool) -> None:
    """Move `draft` towards a member of `ipset` (or next to one, when not `inside`)."""
    if ipset.type == "list:set":
        if ipset.members:
            shape(rng, draft, rng.choice(ipset.members), flags, inside)
        return
    if not ipset.entries:
        return
    entry = rng.choice(ipset.entries)
    directions = flags.split(",")
    spoil = rng.randrange(len(ipset.dimensions)) if not inside else -1
    for index, dim in enumerate(ipset.dimensions):
        if index >= len(directions):
            break
        _apply(rng, draft, dim, entry, directions[index], spoil == index, ipset.port_range)


def _apply(rng: random.Random, draft: Draft, dim: str, entry: Entry, direction: str,
           spoil: bool, port_range: tuple[int, int]) -> None:
    if dim == "ip" and entry.net is not None:
        domain = None if direction == "src" else draft.dst_domain
        pick = edge_outside if spoil else edge_inside
        address = pick(rng, entry.net, domain)
        if address is not None:
            setattr(draft, direction, address)
    elif dim == "port":
        if entry.proto in ICMP_ENTRIES:
            draft.set_proto(rng, "icmp")
            draft.icmp_type = ICMP_ENTRIES[entry.proto] if not spoil else 8 + 5 * rng.randint(0, 1)
            return
        if entry.proto in ("tcp", "udp"):
            draft.set_proto(rng, entry.proto)
        elif draft.proto == "icmp":
            draft.set_proto(rng, rng.choice(("tcp", "udp")))
        port = entry.port if entry.port is not None else rng.randint(*port_range)
        if spoil:
            port = port + 1 if port < 65535 else port - 1
        setattr(draft, "sport" if direction == "src" else "dport", port)
    elif dim == "iface" and entry.iface is not None:
        if direction == "src" and entry.iface in INGRESS:
            draft.in_iface = entry.iface if not spoil else next(
                i for i in sorted(INGRESS) if i != entry.iface)
        elif direction == "dst" and draft.hook == "FORWARD" and entry.iface in EGRESS:
            wanted = entry.iface if not spoil else next(i for i in EGRESS if i != entry.iface)
            net = next(n for n, i in FORWARDED.items() if i == wanted)
            draft.dst = rng.randint(net.first, net.last)

