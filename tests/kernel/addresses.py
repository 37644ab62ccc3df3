"""Address arithmetic for the generator: CIDRs as integers, and picks at their edges.

Sources may be almost anything, because spoofed packets never leave the lab's namespaces; what
is excluded would be dropped by routing before the rules are finished (martians) or belongs to
the lab itself. Destinations are confined to the host's local range (INPUT) or to the networks
it forwards to (FORWARD), so that a probe's hook is the one the kernel picks.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from collectors.lab.netns import FORWARD_ROUTES, LAB_NETWORK, LOCAL_RANGE


@dataclass(frozen=True, slots=True)
class Cidr:
    """An IPv4 network as first and last address (integers) and prefix length."""

    first: int
    prefixlen: int

    @classmethod
    def around(cls, address: int, prefixlen: int) -> Cidr:
        mask = (0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF
        return cls(address & mask, prefixlen)

    @classmethod
    def parse(cls, text: str) -> Cidr:
        network = ipaddress.ip_network(text, strict=False)
        return cls(int(network.network_address), network.prefixlen)

    @property
    def last(self) -> int:
        return self.first + (1 << (32 - self.prefixlen)) - 1

    def __contains__(self, address: int) -> bool:
        return self.first <= address <= self.last

    def __str__(self) -> str:
        return f"{text(self.first)}/{self.prefixlen}"


def text(address: int) -> str:
    return str(ipaddress.IPv4Address(address))


def number(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


NOT_SOURCES = tuple(Cidr.parse(n) for n in (
    "0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/3", LAB_NETWORK, LOCAL_RANGE, "198.51.100.0/24"))
LOCAL = Cidr.parse(LOCAL_RANGE)
FORWARDED = {Cidr.parse(network): iface for network, iface in FORWARD_ROUTES.items()}
# Where the generator draws its source networks from: private, shared and documentation space
# mostly, and now and then anywhere at all.
SOURCE_BASES = tuple(Cidr.parse(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "203.0.113.0/24"))


def valid_source(address: int) -> bool:
    return 0 <= address <= 0xFFFFFFFF and not any(address in net for net in NOT_SOURCES)


def random_source(rng: random.Random) -> int:
    while True:
        if rng.random() < 0.85:
            base = rng.choice(SOURCE_BASES)
            address = rng.randint(base.first, base.last)
        else:
            address = rng.randint(0x01000000, 0xDFFFFFFF)
        if valid_source(address):
            return address


def random_cidr(rng: random.Random, around: int, shortest: int = 0) -> Cidr:
    """A network containing `around`, its length anywhere from `shortest` to 32."""
    weights = [1 if n < 8 else 3 if n < 16 else 6 for n in range(shortest, 33)]
    prefixlen = rng.choices(range(shortest, 33), weights)[0]
    return Cidr.around(around, prefixlen)


def edge_inside(rng: random.Random, net: Cidr, domain: Cidr | None = None) -> int | None:
    """An address of `net` (within `domain`, and a valid source when no domain): edges first."""
    first, last = net.first, net.last
    if domain is not None:
        first, last = max(first, domain.first), min(last, domain.last)
        if first > last:
            return None
    candidates = [first, last, first + 1, last - 1, rng.randint(first, last)]
    rng.shuffle(candidates)
    for address in candidates + [rng.randint(first, last) for _ in range(20)]:
        if first <= address <= last and (domain is not None or valid_source(address)):
            return address
    return None


def edge_outside(rng: random.Random, net: Cidr, domain: Cidr | None = None) -> int | None:
    """An address just outside `net` (or anywhere else in `domain`), valid as above."""
    low, high = (domain.first, domain.last) if domain else (0, 0xFFFFFFFF)
    candidates = [net.first - 1, net.last + 1]
    rng.shuffle(candidates)
    candidates += [rng.randint(low, high) for _ in range(20)]
    for address in candidates:
        if low <= address <= high and address not in net and (
                domain is not None or valid_source(address)):
            return address
    return None


def egress_for(dst: int) -> str | None:
    """The host's outgoing interface for a forwarded destination."""
    return next((iface for net, iface in FORWARDED.items() if dst in net), None)
