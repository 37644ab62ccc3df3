"""nft data types: reading the constants a ruleset is written in, and comparing packet values
that may be known, partly known (some bits) or unknown."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from webapp.engine.values import ValueParseError, parse_port, parse_protocol


class _Break:
    """The expression cannot be evaluated on this packet (missing header, no connection): the
    kernel stops the rule there, whatever the operator."""

    def __repr__(self) -> str:
        return "BREAK"


BREAK = _Break()


@dataclass(frozen=True, slots=True)
class Bits:
    """An integer field of which only the bits set in `known` are known."""

    value: int
    known: int
    width: int

    @property
    def low(self) -> int:
        return self.value & self.known

    @property
    def high(self) -> int:
        return (self.value & self.known) | (((1 << self.width) - 1) & ~self.known)


# A packet value: int or str when known, Bits when partly known, None when unknown.
Value = int | str | Bits | None

CT_STATE = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
CT_STATUS = {"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16,
             "dnat": 32, "dying": 512}
CT_DIR = {"original": 0, "reply": 1}
NF_PROTO = {"inet": 1, "ipv4": 2, "arp": 3, "netdev": 5, "bridge": 7, "ipv6": 10}
ETHER_TYPE = {"ip": 0x0800, "arp": 0x0806, "ip6": 0x86DD, "vlan": 0x8100, "8021ad": 0x88A8}
PKT_TYPE = {"host": 0, "unicast": 0, "broadcast": 1, "multicast": 2, "other": 3}
TCP_FLAG = {"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ecn": 64,
            "cwr": 128}
ICMP_TYPE = {"echo-reply": 0, "destination-unreachable": 3, "source-quench": 4, "redirect": 5,
             "echo-request": 8, "router-advertisement": 9, "router-solicitation": 10,
             "time-exceeded": 11, "parameter-problem": 12, "timestamp-request": 13,
             "timestamp-reply": 14, "info-request": 15, "info-reply": 16,
             "address-mask-request": 17, "address-mask-reply": 18}
ICMPV6_TYPE = {"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3,
               "parameter-problem": 4, "echo-request": 128, "echo-reply": 129,
               "mld-listener-query": 130, "mld-listener-report": 131, "mld-listener-done": 132,
               "mld-listener-reduction": 132, "nd-router-solicit": 133, "nd-router-advert": 134,
               "nd-neighbor-solicit": 135, "nd-neighbor-advert": 136, "nd-redirect": 137,
               "router-renumbering": 138, "ind-neighbor-solicit": 141,
               "ind-neighbor-advert": 142, "mld2-listener-report": 143}
ICMP_CODE = {"net-unreachable": 0, "host-unreachable": 1, "prot-unreachable": 2,
             "port-unreachable": 3, "frag-needed": 4, "net-prohibited": 9,
             "host-prohibited": 10, "admin-prohibited": 13}
ICMPV6_CODE = {"no-route": 0, "admin-prohibited": 1, "addr-unreachable": 3,
               "port-unreachable": 4, "policy-fail": 5, "reject-route": 6}
FIB_ADDRTYPE = {"unspec": 0, "unicast": 1, "local": 2, "broadcast": 3, "anycast": 4,
                "multicast": 5, "blackhole": 6, "unreachable": 7, "prohibit": 8}
BOOLEAN = {"exists": 1, "missing": 0, "true": 1, "false": 0}
ECN = {"not-ect": 0, "ect1": 1, "ect0": 2, "ce": 3}
DSCP = {**{f"cs{i}": i * 8 for i in range(8)}, "af11": 10, "af12": 12, "af13": 14,
        "af21": 18, "af22": 20, "af23": 22, "af31": 26, "af32": 28, "af33": 30, "af41": 34,
        "af42": 36, "af43": 38, "va": 44, "ef": 46, "le": 1}
IFACE_TYPE = {"ether": 1, "ppp": 512, "ipip": 768, "ipip6": 769, "loopback": 772, "sit": 776,
              "ipgre": 778}
_NAMES: dict[str, dict[str, int]] = {
    "ct_state": CT_STATE, "ct_status": CT_STATUS, "ct_dir": CT_DIR, "nf_proto": NF_PROTO,
    "ether_type": ETHER_TYPE, "pkt_type": PKT_TYPE, "tcp_flag": TCP_FLAG,
    "icmp_type": ICMP_TYPE, "icmpv6_type": ICMPV6_TYPE, "icmp_code": ICMP_CODE,
    "icmpv6_code": ICMPV6_CODE, "fib_addrtype": FIB_ADDRTYPE, "boolean": BOOLEAN,
    "ecn": ECN, "dscp": DSCP, "iface_type": IFACE_TYPE,
}
# Types whose `in` operator (and flag lists) test bits rather than equality.
BITMASK_TYPES = frozenset({"ct_state", "ct_status", "tcp_flag", "ct_event"})
STRING_TYPES = frozenset({"ifname", "iface_index", "string", "ct_helper", "osf_name"})
WIDTH = {"ipv4_addr": 32, "ipv6_addr": 128, "inet_service": 16, "inet_proto": 8,
         "tcp_flag": 8, "icmp_type": 8, "icmpv6_type": 8, "icmp_code": 8, "icmpv6_code": 8,
         "ether_type": 16, "ether_addr": 48, "dscp": 6, "ecn": 2, "boolean": 1, "pkt_type": 8,
         "nf_proto": 8, "ct_dir": 8}


def width_of(dtype: str) -> int:
    return WIDTH.get(dtype, 32)


def parse_constant(value: Any, dtype: str) -> int | str:
    """One constant of type `dtype` as Segscope compares it (int, or str for names)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueParseError(f"negative value {value} for {dtype}")
        return value
    if not isinstance(value, str):
        raise ValueParseError(f"not a constant of type {dtype}: {value!r}")
    if dtype in STRING_TYPES:
        return value
    if dtype in ("ipv4_addr", "ipv6_addr"):
        return _address(value, dtype == "ipv4_addr")
    if dtype == "inet_service":
        return parse_port(value)
    if dtype == "inet_proto":
        return parse_protocol(value)
    if dtype == "ether_addr":
        digits = value.replace(":", "").replace("-", "")
        if len(digits) == 12:
            try:
                return int(digits, 16)
            except ValueError:
                pass
        raise ValueParseError(f"not a MAC address: {value!r}")
    names = _NAMES.get(dtype)
    if names is not None and value in names:
        return names[value]
    try:
        return int(value, 0)
    except ValueError:
        raise ValueParseError(f"unknown {dtype} value {value!r}") from None


@lru_cache(maxsize=1 << 16)
def _address(text: str, four: bool) -> int:
    try:
        packed = socket.inet_pton(socket.AF_INET if four else socket.AF_INET6, text)
    except OSError:
        other = "an IPv6" if four else "an IPv4"
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueParseError(f"not an address: {text!r}") from None
        raise ValueParseError(f"{text} is {other} address") from None
    return int.from_bytes(packed, "big")


def flag_value(value: Any, dtype: str) -> int:
    """A flag list (`["syn", "ack"]`, `{"|": [...]}`) or single flag as one bit mask."""
    if isinstance(value, list):
        bits = 0
        for item in value:
            bits |= flag_value(item, dtype)
        return bits
    if isinstance(value, dict) and "|" in value:
        return flag_value(value["|"], dtype)
    constant = parse_constant(value, dtype)
    if not isinstance(constant, int):
        raise ValueParseError(f"not a flag of type {dtype}: {value!r}")
    return constant


# --- patterns: what one set element or right-hand side admits --------------------------------
# ("range", low, high) for numbers, ("eq", name) and ("prefix", start) for names, ("any",).
Pattern = tuple[Any, ...]


def parse_pattern(value: Any, dtype: str) -> Pattern:
    """A constant, prefix, range or wildcard of type `dtype` as a pattern."""
    if isinstance(value, dict) and len(value) == 1:
        kind, body = next(iter(value.items()))
        if kind == "elem" and isinstance(body, dict):
            return parse_pattern(body.get("val"), dtype)
        if kind == "prefix" and isinstance(body, dict):
            low = parse_constant(body.get("addr"), dtype)
            bits = width_of(dtype)
            length = int(body.get("len", bits))
            if not isinstance(low, int) or not 0 <= length <= bits:
                raise ValueParseError(f"bad prefix {value!r} for {dtype}")
            host = (1 << (bits - length)) - 1
            return ("range", low & ~host, (low & ~host) | host)
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            low, high = parse_constant(body[0], dtype), parse_constant(body[1], dtype)
            if not isinstance(low, int) or not isinstance(high, int):
                raise ValueParseError(f"bad range {value!r} for {dtype}")
            return ("range", min(low, high), max(low, high))
        if kind == "|" or dtype in BITMASK_TYPES:
            bits = flag_value(value, dtype)
            return ("range", bits, bits)
        raise ValueParseError(f"not a constant: {value!r}")
    if value == "*":
        return ("any",)
    if isinstance(value, list):
        bits = flag_value(value, dtype)
        return ("range", bits, bits)
    constant = parse_constant(value, dtype)
    if isinstance(constant, str):
        if dtype == "ifname" and constant.endswith("*") and not constant.endswith("\\*"):
            return ("prefix", constant[:-1])
        return ("eq", constant.replace("\\*", "*"))
    return ("range", constant, constant)


def test_pattern(pattern: Pattern, value: Value) -> bool | None:
    """Whether a packet value lies in a pattern: True, False, or None when it cannot be known."""
    kind = pattern[0]
    if kind == "any":
        return True
    if value is None:
        return None
    if kind == "range":
        low, high = pattern[1], pattern[2]
        if isinstance(value, int):
            return low <= value <= high
        if isinstance(value, Bits):
            if value.high < low or value.low > high:
                return False
            if low <= value.low and value.high <= high:
                return True
            if low == high and (value.value ^ low) & value.known:
                return False
            return None
        return None  # a name against a number (an interface index): cannot be known
    if not isinstance(value, str):
        return None
    return value == pattern[1] if kind == "eq" else value.startswith(pattern[1])


def compare(value: Value, op: str, constant: int) -> bool | None:
    """`<`, `>`, `<=`, `>=` on a known or partly known value."""
    if isinstance(value, Bits):
        low, high = value.low, value.high
    elif isinstance(value, int):
        low = high = value
    else:
        return None
    tests = {"<": (high < constant, low >= constant), ">": (low > constant, high <= constant),
             "<=": (high <= constant, low > constant), ">=": (low >= constant, high < constant)}
    sure, never = tests[op]
    return True if sure else False if never else None


def any_bits(value: Value, mask: int) -> bool | None:
    """`value & mask != 0` (the `in` operator on flags)."""
    if isinstance(value, int):
        return bool(value & mask)
    if isinstance(value, Bits):
        if value.value & value.known & mask:
            return True
        return False if mask & ~value.known == 0 else None
    return None


def binop(value: Value | _Break, op: str, operand: int, width: int) -> Value | _Break:
    """`&`, `|`, `^`, `<<`, `>>` with a constant, keeping track of which bits stay known."""
    if value is BREAK or isinstance(value, str):
        return value if value is BREAK else None
    full = (1 << width) - 1
    if value is None:
        value = Bits(0, 0, width)
    if isinstance(value, int):
        value = Bits(value, full, width)
    assert isinstance(value, Bits)
    v, known = value.value, value.known
    if op == "&":
        v, known = v & operand, (known | ~operand) & full
    elif op == "|":
        v, known = v | operand, (known | operand) & full
    elif op == "^":
        v = v ^ operand
    elif op == "<<":
        v, known = (v << operand) & full, ((known << operand) | ((1 << operand) - 1)) & full
    elif op == ">>":
        v, known = v >> operand, (known >> operand) | (full & ~(full >> operand))
    else:
        return None
    return v & full if known == full else Bits(v & full, known, width)
