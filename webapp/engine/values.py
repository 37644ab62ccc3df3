"""Readers for the values rules are written in: addresses, ports, protocols, ICMP types, flags."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

PROTOCOLS = {
    "all": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "dccp": 33,
    "ipv6": 41, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58,
    "ospf": 89, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "mh": 135, "udplite": 136,
}
PROTOCOL_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp", 136: "udplite"}
PORT_PROTOCOLS = frozenset({6, 17, 132, 136, 33})

# Service names as /etc/services spells them; a bare container may lack that file.
SERVICES = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "tftp": 69,
    "http": 80, "www": 80, "kerberos": 88, "pop3": 110, "sunrpc": 111, "ntp": 123,
    "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139, "imap": 143, "imap2": 143,
    "snmp": 161, "snmp-trap": 162, "bgp": 179, "ldap": 389, "https": 443, "microsoft-ds": 445,
    "isakmp": 500, "syslog": 514, "submission": 587, "ldaps": 636, "rsync": 873, "imaps": 993,
    "pop3s": 995, "openvpn": 1194, "ms-sql-s": 1433, "mysql": 3306, "postgresql": 5432,
    "domain-s": 853, "bootps": 67, "bootpc": 68, "ipp": 631, "nfs": 2049, "sip": 5060,
    "x11": 6000, "smtps": 465, "ipsec-nat-t": 4500, "redis": 6379, "http-alt": 8080,
}

ICMP_TYPES: dict[str, tuple[int, int | None]] = {
    "any": (-1, None), "echo-reply": (0, None), "pong": (0, None),
    "destination-unreachable": (3, None), "network-unreachable": (3, 0),
    "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3),
    "fragmentation-needed": (3, 4), "source-route-failed": (3, 5),
    "network-unknown": (3, 6), "host-unknown": (3, 7), "network-prohibited": (3, 9),
    "host-prohibited": (3, 10), "TOS-network-unreachable": (3, 11),
    "TOS-host-unreachable": (3, 12), "communication-prohibited": (3, 13),
    "host-precedence-violation": (3, 14), "precedence-cutoff": (3, 15),
    "source-quench": (4, None), "redirect": (5, None), "network-redirect": (5, 0),
    "host-redirect": (5, 1), "TOS-network-redirect": (5, 2), "TOS-host-redirect": (5, 3),
    "echo-request": (8, None), "ping": (8, None), "router-advertisement": (9, None),
    "router-solicitation": (10, None), "time-exceeded": (11, None), "ttl-exceeded": (11, None),
    "ttl-zero-during-transit": (11, 0), "ttl-zero-during-reassembly": (11, 1),
    "parameter-problem": (12, None), "ip-header-bad": (12, 0),
    "required-option-missing": (12, 1), "timestamp-request": (13, None),
    "timestamp-reply": (14, None), "address-mask-request": (17, None),
    "address-mask-reply": (18, None),
}
ICMPV6_TYPES: dict[str, tuple[int, int | None]] = {
    "destination-unreachable": (1, None), "no-route": (1, 0),
    "communication-prohibited": (1, 1), "beyond-scope": (1, 2), "address-unreachable": (1, 3),
    "port-unreachable": (1, 4), "failed-policy": (1, 5), "reject-route": (1, 6),
    "packet-too-big": (2, None), "time-exceeded": (3, None), "ttl-exceeded": (3, None),
    "ttl-zero-during-transit": (3, 0), "ttl-zero-during-reassembly": (3, 1),
    "parameter-problem": (4, None), "bad-header": (4, 0), "unknown-header-type": (4, 1),
    "unknown-option": (4, 2), "echo-request": (128, None), "ping": (128, None),
    "echo-reply": (129, None), "pong": (129, None),
    "mld-listener-query": (130, None), "mld-listener-report": (131, None),
    "mld-listener-done": (132, None), "mld-listener-reduction": (132, None),
    "router-solicitation": (133, None), "router-advertisement": (134, None),
    "neighbour-solicitation": (135, None), "neighbor-solicitation": (135, None),
    "neighbour-advertisement": (136, None), "neighbor-advertisement": (136, None),
    "redirect": (137, None),
}

TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
             "ECE": 0x40, "CWR": 0x80, "ALL": 0x3F, "NONE": 0}


class ValueParseError(ValueError):
    """A value in a rule that is not what its option takes."""


@lru_cache(maxsize=1 << 16)
def parse_cidr(text: str) -> tuple[int, int, int, int]:
    """`10.0.0.0/8` (or a netmask, or a bare address) as (family, network, mask, last address)."""
    addr_text, _, prefix_text = text.partition("/")
    family, value = parse_address(addr_text)
    bits = 32 if family == 4 else 128
    full = (1 << bits) - 1
    if not prefix_text:
        prefix = bits
    elif prefix_text.isdigit() and int(prefix_text) <= bits:
        prefix = int(prefix_text)
    else:
        try:  # a netmask such as 255.255.255.0, as old dumps and hand-written rules have
            prefix = ipaddress.ip_network(f"0.0.0.0/{prefix_text}").prefixlen
        except ValueError:
            raise ValueParseError(f"not an address or network: {text!r}") from None
    mask = full ^ ((1 << (bits - prefix)) - 1)
    first = value & mask
    return family, first, mask, first | (full ^ mask)


def parse_address(text: str) -> tuple[int, int]:
    """An address as (family, integer); inet_pton keeps this cheap for large tables."""
    text = text.strip("[]")
    family, packed_family = (6, socket.AF_INET6) if ":" in text else (4, socket.AF_INET)
    try:
        packed = socket.inet_pton(packed_family, text)
    except OSError:
        raise ValueParseError(f"not an address: {text!r}") from None
    return family, int.from_bytes(packed, "big")


def format_address(family: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def parse_protocol(text: str) -> int:
    """`tcp`, `6` or `all` as a protocol number (0 means any)."""
    name = text.lower()
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    if name.isdigit() and int(name) < 256:
        return int(name)
    try:
        return socket.getprotobyname(name)
    except OSError:
        raise ValueParseError(f"unknown protocol {text!r}") from None


def parse_port(text: str) -> int:
    if text.isdigit():
        port = int(text)
        if port > 65535:
            raise ValueParseError(f"port out of range: {text}")
        return port
    if text in SERVICES:
        return SERVICES[text]
    try:
        return socket.getservbyname(text)
    except OSError:
        raise ValueParseError(f"unknown port or service {text!r}") from None


def parse_port_range(text: str) -> tuple[int, int]:
    """`80`, `1000:2000`, `:1024`, `1024:` (and `-` as multiport's nft spelling) as (low, high)."""
    sep = ":" if ":" in text else ("-" if "-" in text[1:] else None)
    if sep is None:
        port = parse_port(text)
        return port, port
    low_text, high_text = text.split(sep, 1)
    low = parse_port(low_text) if low_text else 0
    high = parse_port(high_text) if high_text else 65535
    if low > high:  # iptables swaps an inverted range
        low, high = high, low
    return low, high


def parse_port_list(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(parse_port_range(part) for part in text.split(","))


def parse_icmp_type(text: str, family: int) -> tuple[int, int, int]:
    """`echo-request`, `8` or `3/3` as (type, lowest code, highest code); type -1 is any."""
    names = ICMP_TYPES if family == 4 else ICMPV6_TYPES
    if text in names:
        icmp_type, code = names[text]
        return (icmp_type, 0, 255) if code is None else (icmp_type, code, code)
    type_text, _, code_text = text.partition("/")
    try:
        icmp_type = int(type_text)
        if not code_text:
            return icmp_type, 0, 255
        code = int(code_text)
        return icmp_type, code, code
    except ValueError:
        raise ValueParseError(f"unknown ICMP type {text!r}") from None


def parse_tcp_flags(text: str) -> int:
    value = 0
    for name in text.upper().split(","):
        if name not in TCP_FLAGS:
            raise ValueParseError(f"unknown TCP flag {name!r}")
        value |= TCP_FLAGS[name]
    return value


def parse_mark(text: str) -> tuple[int, int]:
    """`0x10/0xff` or `16` as (value, mask)."""
    value_text, _, mask_text = text.partition("/")
    try:
        value = int(value_text, 0)
        mask = int(mask_text, 0) if mask_text else 0xFFFFFFFF
    except ValueError:
        raise ValueParseError(f"not a mark: {text!r}") from None
    return value, mask


def interface_matches(pattern: str, name: str | None) -> bool:
    """iptables interface match: a trailing `+` matches any name with that prefix."""
    name = name or ""
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern
