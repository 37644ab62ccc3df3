"""A probe while the generator shapes it: hints push its fields into or out of a rule's matches.

The connection state is not chosen freely but follows from what the kernel will see: an ICMP
echo reply or a TCP packet with flags conntrack refuses is INVALID, a packet whose tuple has an
inserted conntrack entry is ESTABLISHED, anything else starts a NEW connection.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from collectors.lab.netns import INGRESS, LINKS
from collectors.lab.probes import Probe, tcp_flag_bits
from tests.kernel.addresses import LOCAL, Cidr, egress_for, number, random_source, text

COMMON_PORTS = (22, 25, 53, 80, 123, 443, 1000, 1024, 2379, 3306, 5432, 6443, 8080, 8443, 9100)
EPHEMERAL = (32768, 60999)
NEW_ICMP_TYPES = (8, 13)
INVALID_ICMP_TYPES = (0, 14)
# Flags conntrack starts a connection with (loose pickup takes a bare ACK as NEW) and flags it
# refuses as the first packet of a connection (INVALID).
NEW_TCP_FLAGS = ("SYN", "ACK", "PSH,ACK")
INVALID_TCP_FLAGS = ("SYN,ACK", "RST", "FIN,ACK", "SYN,FIN", "RST,ACK")
MULTICAST = number("224.0.0.1")
BROADCAST = number("255.255.255.255")
FORWARD_RANGE = Cidr.parse("198.51.100.0/24")


@dataclass(slots=True)
class Draft:
    """A probe being shaped; `hook` is fixed when the draft is made."""

    hook: str
    src: int
    dst: int
    proto: str
    sport: int
    dport: int
    icmp_type: int
    in_iface: str
    established: bool = False
    tcp_flags: str | None = None

    @property
    def dst_domain(self) -> Cidr:
        return LOCAL if self.hook == "INPUT" else FORWARD_RANGE

    @property
    def out_iface(self) -> str | None:
        return egress_for(self.dst) if self.hook == "FORWARD" else None

    @property
    def ct_state(self) -> str:
        if self.proto == "icmp":
            return "INVALID" if self.icmp_type in INVALID_ICMP_TYPES else "NEW"
        if self.established:
            return "ESTABLISHED"
        if self.proto == "tcp" and self.tcp_flags in INVALID_TCP_FLAGS:
            return "INVALID"
        return "NEW"

    def set_proto(self, rng: random.Random, proto: str) -> None:
        if proto == self.proto:
            return
        self.proto = proto
        self.tcp_flags = None
        if proto == "icmp":
            self.established = False
            self.icmp_type = 8
        if (proto == "tcp" and self.dst in (MULTICAST, BROADCAST)) or (
                proto == "icmp" and self.dst == BROADCAST):
            self.dst = random_local(rng)

    def set_state(self, rng: random.Random, state: str, explicit_flags: bool) -> bool:
        """Make the draft's connection state `state` if the lab can; False when it cannot."""
        if state == "NEW":
            self.established = False
            if self.proto == "icmp":
                self.icmp_type = rng.choice(NEW_ICMP_TYPES)
            elif self.proto == "tcp" and self.tcp_flags in INVALID_TCP_FLAGS:
                self.tcp_flags = None
            return True
        if state == "ESTABLISHED":
            if self.proto == "icmp":
                self.set_proto(rng, rng.choice(("tcp", "udp")))
            if self.dst in (MULTICAST, BROADCAST):
                self.dst = random_local(rng)
            self.established, self.tcp_flags = True, None
            return True
        if state == "INVALID":
            if self.proto == "tcp" and explicit_flags:
                self.established, self.tcp_flags = False, rng.choice(INVALID_TCP_FLAGS)
            else:
                self.set_proto(rng, "icmp")
                self.icmp_type = rng.choice(INVALID_ICMP_TYPES)
            return True
        return False


def random_local(rng: random.Random) -> int:
    return rng.randint(LOCAL.first, LOCAL.last)


def new_draft(rng: random.Random, hook: str) -> Draft:
    """A plain NEW probe for `hook` from a random source, arriving on a random interface."""
    proto = rng.choices(("tcp", "udp", "icmp"), (5, 3, 2))[0]
    in_iface = rng.choice(sorted(INGRESS))
    if hook == "INPUT":
        roll = rng.random()
        if roll < 0.04:
            dst = number(next(link.host_address for link in LINKS if link.host_iface == in_iface))
        elif roll < 0.07 and proto != "tcp":
            dst = MULTICAST
        elif roll < 0.09 and proto == "udp":
            dst = BROADCAST
        else:
            dst = random_local(rng)
    else:
        dst = rng.randint(FORWARD_RANGE.first, FORWARD_RANGE.last)
    return Draft(hook=hook, src=random_source(rng), dst=dst, proto=proto,
                 sport=rng.randint(*EPHEMERAL),
                 dport=rng.choice(COMMON_PORTS + (rng.randint(1, 65535),)),
                 icmp_type=8, in_iface=in_iface)


def finish(rng: random.Random, draft: Draft, index: int, used: set[tuple[Any, ...]],
           explicit_flags: bool) -> tuple[dict[str, Any], Probe]:
    """The probe as the CLI takes it and as the lab sends it; tuples are kept unique."""
    if draft.hook == "FORWARD" and egress_for(draft.dst) is None:
        draft.dst = rng.randint(FORWARD_RANGE.first, FORWARD_RANGE.last)
    if draft.hook == "INPUT" and draft.dst not in LOCAL and not any(
            draft.dst == number(link.host_address) for link in LINKS):
        if not (draft.dst == MULTICAST and draft.proto != "tcp") and not (
                draft.dst == BROADCAST and draft.proto == "udp"):
            draft.dst = random_local(rng)
    if draft.dst in (MULTICAST, BROADCAST):
        draft.established = False
    if not explicit_flags:
        draft.tcp_flags = None
    for name in ("sport", "dport"):
        if not 1 <= getattr(draft, name) <= 65535:
            setattr(draft, name, rng.randint(*EPHEMERAL))
    key = (draft.src, draft.dst, draft.proto, draft.sport, draft.dport)
    while draft.proto != "icmp" and (key in used or _reversed(key) in used):
        draft.sport = rng.randint(*EPHEMERAL)
        key = (draft.src, draft.dst, draft.proto, draft.sport, draft.dport)
    used.add(key)
    ip_id = index + 1
    fields: dict[str, Any] = {"id": f"p{index}", "hook": draft.hook, "src": text(draft.src),
                              "dst": text(draft.dst), "proto": draft.proto}
    if draft.proto == "icmp":
        fields["icmp_type"] = draft.icmp_type
    else:
        fields["sport"], fields["dport"] = draft.sport, draft.dport
    fields["in_iface"] = draft.in_iface
    if draft.out_iface:
        fields["out_iface"] = draft.out_iface
    fields["ct_state"] = draft.ct_state
    if draft.proto == "tcp" and draft.tcp_flags:
        fields["tcp_flags"] = draft.tcp_flags
    default_flags = "SYN" if draft.ct_state == "NEW" else "ACK"
    probe = Probe(ip_id=ip_id, src=fields["src"], dst=fields["dst"], proto=draft.proto,
                  sport=draft.sport if draft.proto != "icmp" else 0,
                  dport=draft.dport if draft.proto != "icmp" else 0,
                  tcp_flags=tcp_flag_bits(draft.tcp_flags or default_flags),
                  icmp_type=draft.icmp_type, icmp_id=ip_id)
    return fields, probe


def _reversed(key: tuple[Any, ...]) -> tuple[Any, ...]:
    src, dst, proto, sport, dport = key
    return (dst, src, proto, dport, sport)

