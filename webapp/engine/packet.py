"""The packet a verdict is asked for, and the state it carries while it crosses a host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from webapp.engine.values import PROTOCOLS, TCP_FLAGS, ValueParseError, parse_address

HOOKS = ("INPUT", "FORWARD", "OUTPUT")
CT_STATES = ("NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED")


@dataclass(frozen=True, slots=True)
class Packet:
    """The first packet of a flow as it reaches a host (fields as in the probe JSON)."""

    src: str
    dst: str
    proto: str = "tcp"
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None  # echo request: 8, or 128 for IPv6
    icmp_code: int = 0
    in_iface: str | None = None
    out_iface: str | None = None
    ct_state: str = "NEW"
    mark: int = 0
    tcp_flags: str | None = None
    ttl: int = 64
    length: int | None = None  # IP total length in bytes, the IPv6 header (40) included
    src_mac: str | None = None
    id: Any = None

    def __post_init__(self) -> None:
        try:
            src = ipaddress.ip_address(self.src)
            dst = ipaddress.ip_address(self.dst)
        except ValueError as exc:
            raise ValueParseError(f"probe {self.id!r}: {exc}") from None
        if src.version != dst.version:
            raise ValueParseError(f"probe {self.id!r}: src and dst are of different families")
        if self.ct_state.upper() not in CT_STATES:
            raise ValueParseError(f"probe {self.id!r}: unknown ct_state {self.ct_state!r}")
        if self.length is not None:
            self._check_length(src.version)

    def _check_length(self, family: int) -> None:
        """A length must hold the IP header and the transport header the packet carries."""
        low = (20 if family == 4 else 40) + _TRANSPORT_HEADER.get(self.proto_number, 0)
        high = 65535 if family == 4 else 65535 + 40  # IPv6: a 16-bit payload length
        length = self.length
        if isinstance(length, bool) or not isinstance(length, int) or not low <= length <= high:
            raise ValueParseError(f"probe {self.id!r}: length {length!r} is not a length of "
                                  f"this packet ({low} to {high} bytes)")

    @property
    def family(self) -> int:
        return 6 if ":" in self.src else 4

    @property
    def proto_number(self) -> int:
        name = str(self.proto).lower()
        if name.isdigit():
            return int(name)
        if name == "icmp" and self.family == 6:
            return 58
        if name not in PROTOCOLS:
            raise ValueParseError(f"probe {self.id!r}: unknown proto {self.proto!r}")
        return PROTOCOLS[name]

    @property
    def tcp_flag_bits(self) -> int:
        if self.tcp_flags is None:
            return TCP_FLAGS["SYN"] if self.ct_state.upper() == "NEW" else TCP_FLAGS["ACK"]
        bits = 0
        for name in self.tcp_flags.upper().replace("|", ",").split(","):
            if name:
                bits |= TCP_FLAGS[name.strip()]
        return bits

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Packet:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            names = ", ".join(unknown)
            raise ValueParseError(f"probe {data.get('id')!r}: unknown field(s) {names}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueParseError(f"probe {data.get('id')!r}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__
                if getattr(self, f) is not None}


# The smallest header of each transport protocol: a shorter packet is malformed.
_TRANSPORT_HEADER = {6: 20, 17: 8, 136: 8, 132: 12, 33: 12, 1: 8, 58: 8}

# TCP flag combinations conntrack accepts (PSH, ECE and CWR ignored), as in nf_conntrack_proto_tcp.
_VALID_TCP_FLAGS = frozenset({0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30})
# ICMP types that can open a connection (echo, timestamp, info, address mask requests).
_ICMP_NEW = {1: frozenset({8, 13, 15, 17}), 58: frozenset({128, 139})}
# ICMPv6 neighbour discovery and MLD are never tracked.
_ICMPV6_UNTRACKED = frozenset({130, 131, 132, 133, 134, 135, 136, 137, 143})


def initial_ct_state(packet: Packet, proto: int) -> str:
    """The state conntrack gives a packet said to be NEW: the kernel finds some first packets
    invalid (a lone FIN, RST or SYN+ACK; ICMP replies and errors without a connection)."""
    state = packet.ct_state.upper()
    if state != "NEW":
        return state
    if proto == 6:
        flags = packet.tcp_flag_bits & ~0xC8  # PSH, ECE, CWR do not count
        if flags not in _VALID_TCP_FLAGS:
            return "INVALID"
        # From no connection only SYN opens one; a plain ACK is picked up mid-stream (loose).
        return "NEW" if flags in (0x02, 0x22, 0x10, 0x30) else "INVALID"
    if proto in _ICMP_NEW:
        icmp_type = packet.icmp_type if packet.icmp_type is not None else (
            8 if proto == 1 else 128)
        if proto == 58 and icmp_type in _ICMPV6_UNTRACKED:
            return "UNTRACKED"
        return "NEW" if icmp_type in _ICMP_NEW[proto] else "INVALID"
    return state


@dataclass(slots=True)
class PacketState:
    """Mutable view of a packet during evaluation: NAT, MARK, conntrack and TTL change it."""

    family: int
    src: int | None
    dst: int | None
    proto: int
    sport: int | None
    dport: int | None
    icmp_type: int | None
    icmp_code: int | None
    in_iface: str | None
    out_iface: str | None
    ct_state: str
    mark: int
    ctmark: int
    tcp_flags: int
    ttl: int
    src_mac: str | None
    hook: str
    length: int | None = None
    # Before conntrack (the raw table) a packet has no connection yet: state matches see INVALID.
    ct_attached: bool = False
    untracked: bool = False
    dnat_done: bool = False
    snat_done: bool = False
    orig_src: int | None = None
    orig_dst: int | None = None
    orig_sport: int | None = None
    orig_dport: int | None = None
    local_addresses: frozenset[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_packet(cls, packet: Packet, hook: str,
                    local_addresses: frozenset[int] | None = None) -> PacketState:
        family, src = parse_address(packet.src)
        _, dst = parse_address(packet.dst)
        proto = packet.proto_number
        has_ports = proto in (6, 17, 132, 136, 33)
        is_icmp = proto in (1, 58)
        icmp_type = packet.icmp_type
        if icmp_type is None:
            icmp_type = 8 if proto == 1 else 128
        return cls(
            family=family, src=src, dst=dst, proto=proto,
            sport=packet.sport if has_ports else None,
            dport=packet.dport if has_ports else None,
            icmp_type=icmp_type if is_icmp else None,
            icmp_code=packet.icmp_code if is_icmp else None,
            in_iface=packet.in_iface, out_iface=packet.out_iface,
            ct_state=initial_ct_state(packet, proto), mark=packet.mark, ctmark=0,
            tcp_flags=packet.tcp_flag_bits if proto == 6 else 0, ttl=packet.ttl,
            src_mac=packet.src_mac, hook=hook, length=packet.length,
            orig_src=src, orig_dst=dst, orig_sport=packet.sport, orig_dport=packet.dport,
            local_addresses=local_addresses,
        )

    def __post_init__(self) -> None:
        if self.ct_state == "UNTRACKED":
            self.untracked = True

    @property
    def has_connection(self) -> bool:
        """Whether conntrack attached an entry: not before it runs, not for untracked or
        invalid packets. Connection marks and status exist only then."""
        return self.ct_attached and not self.untracked and self.ct_state != "INVALID"

    def copy(self) -> PacketState:
        clone = PacketState.__new__(PacketState)
        for name in PacketState.__slots__:
            setattr(clone, name, getattr(self, name))
        clone.extra = dict(self.extra)
        return clone
