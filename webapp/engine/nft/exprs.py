"""nft selector expressions (payload, meta, ct, fib, ...) compiled to readers of the packet state.

A reader returns the field's value, None when Segscope cannot know it, or BREAK when the kernel
could not evaluate it on this packet (another protocol's header, no connection, no socket): a
rule stops at BREAK whatever its operator, as the implicit dependencies nft adds make it do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collectors.nft.render import render_expression
from webapp.engine.iptables.matches import address_type
from webapp.engine.nft.types import (
    BREAK,
    CT_STATE,
    FIB_ADDRTYPE,
    NF_PROTO,
    Bits,
    Value,
    _Break,
    binop,
    flag_value,
    parse_constant,
    width_of,
)
from webapp.engine.packet import PacketState
from webapp.engine.values import PORT_PROTOCOLS, ValueParseError

Reader = Callable[[PacketState], "Value | _Break | tuple[Value, ...]"]
_IN_HOOKS = frozenset({"PREROUTING", "INPUT", "FORWARD"})
_OUT_HOOKS = frozenset({"FORWARD", "OUTPUT", "POSTROUTING"})
_TRANSPORT = {"tcp": 6, "udp": 17, "udplite": 136, "sctp": 132, "dccp": 33, "icmp": 1,
              "icmpv6": 58, "ah": 51, "esp": 50, "comp": 108, "igmp": 2}
_PORT_TYPES = {"sport": "inet_service", "dport": "inet_service"}


@dataclass(frozen=True, slots=True)
class Selector:
    """What an expression reads from the packet, its nft type(s), and why it may be unknown."""

    read: Reader
    dtypes: tuple[str, ...]  # one per part of a concatenation
    text: str
    opaque: str | None = None  # set when the value depends on state Segscope cannot see

    @property
    def dtype(self) -> str:
        return self.dtypes[0]


def _unknown(state: PacketState) -> None:
    return None


def _break(state: PacketState) -> _Break:
    return BREAK


def _at(state: PacketState) -> str:
    return str(state.extra.get("at", state.hook))


def in_iface(state: PacketState) -> str:
    """The incoming interface as the kernel sees it at this hook ('' where there is none).
    A forwarded packet still has it on POSTROUTING: ip_output passes skb->dev as `in`."""
    at = _at(state)
    if at in _IN_HOOKS or (at == "POSTROUTING" and state.hook == "FORWARD"):
        return state.in_iface or ""
    return ""


def out_iface(state: PacketState) -> str:
    return (state.out_iface or "") if _at(state) in _OUT_HOOKS else ""


def compile_selector(expr: Any, family: str) -> Selector:
    """A reader for a left-hand side (or statement key); unknown forms read as None."""
    text = render_expression(expr)
    if isinstance(expr, (str, int)) and not isinstance(expr, bool):
        constant = expr  # `ip saddr . "lo" @s`: a constant part of a concatenation

        def fixed(state: PacketState) -> Value:
            return constant

        return Selector(fixed, ("string" if isinstance(expr, str) else "integer",), text)
    if not isinstance(expr, dict) or len(expr) != 1:
        raise ValueParseError(f"not a selector: {text}")
    kind, body = next(iter(expr.items()))
    if kind == "concat" and isinstance(body, list):
        parts = [compile_selector(part, family) for part in body]
        readers = [p.read for p in parts]

        def concat(state: PacketState) -> tuple[Value, ...] | _Break:
            values = []
            for read in readers:
                value = read(state)
                if value is BREAK or isinstance(value, tuple):
                    return BREAK
                values.append(value)
            return tuple(values)  # type: ignore[arg-type]

        opaque = next((p.opaque for p in parts if p.opaque), None)
        return Selector(concat, tuple(d for p in parts for d in p.dtypes), text, opaque)
    if kind in ("&", "|", "^", "<<", ">>") and isinstance(body, list) and len(body) == 2:
        inner = compile_selector(body[0], family)
        operand = flag_value(body[1], inner.dtype) if isinstance(body[1], list) else \
            parse_constant(body[1], inner.dtype)
        if not isinstance(operand, int):
            raise ValueParseError(f"not a number: {body[1]!r}")
        width = width_of(inner.dtype)

        def operation(state: PacketState, read: Reader = inner.read, op: str = kind,
                      value: int = operand) -> Value | _Break:
            result = read(state)
            return None if isinstance(result, tuple) else binop(result, op, value, width)

        return Selector(operation, inner.dtypes, text, inner.opaque)
    builder = _BUILDERS.get(kind)
    if builder is None or not isinstance(body, dict):
        return Selector(_unknown, ("integer",), text, f"expression {kind}")
    read, dtype, opaque = builder(body, family)
    return Selector(read, (dtype,), text, opaque)


Built = tuple[Reader, str, "str | None"]


def _payload(body: dict[str, Any], family: str) -> Built:
    if "base" in body or "tunnel" in body:
        return _unknown, "integer", "raw or inner payload"
    proto, field = str(body.get("protocol")), str(body.get("field"))
    dtype = _payload_type(proto, field, family)
    read = _payload_field(proto, field)
    if read is None:
        return _requires(proto, _unknown), dtype, f"{proto} {field}"
    return _requires(proto, read), dtype, None


def _payload_type(proto: str, field: str, family: str) -> str:
    if field in ("saddr", "daddr") and proto in ("ip", "ip6"):
        return "ipv4_addr" if proto == "ip" else "ipv6_addr"
    if field in _PORT_TYPES:
        return "inet_service"
    return {("ip", "protocol"): "inet_proto", ("ip6", "nexthdr"): "inet_proto",
            ("tcp", "flags"): "tcp_flag", ("icmp", "type"): "icmp_type",
            ("icmp", "code"): "icmp_code", ("icmpv6", "type"): "icmpv6_type",
            ("icmpv6", "code"): "icmpv6_code", ("ip", "dscp"): "dscp", ("ip6", "dscp"): "dscp",
            ("ip", "ecn"): "ecn", ("ip6", "ecn"): "ecn", ("ether", "saddr"): "ether_addr",
            ("ether", "daddr"): "ether_addr", ("ether", "type"): "ether_type"}.get(
                (proto, field), "integer")


def _requires(proto: str, read: Reader) -> Reader:
    """The header must be there: nft's implicit dependency (`meta nfproto`, `meta l4proto`)."""
    if proto == "ip":
        return lambda state: read(state) if state.family == 4 else BREAK
    if proto == "ip6":
        return lambda state: read(state) if state.family == 6 else BREAK
    if proto in _TRANSPORT:
        number = _TRANSPORT[proto]
        return lambda state: read(state) if state.proto == number else BREAK
    if proto == "th":
        return read
    if proto == "ether":
        return lambda state: BREAK if _at(state) == "OUTPUT" else read(state)
    return _break  # vlan, arp: not on a routed IP packet


def _payload_field(proto: str, field: str) -> Reader | None:
    if proto in ("tcp", "udp", "udplite", "sctp", "dccp"):
        if field == "flags":
            return _tcp_flags if proto == "tcp" else None
        if field == "length":
            return _udp_length if proto == "udp" else None
        return _PORT_FIELDS.get(field)
    return _FIELDS.get(proto, {}).get(field)


def _length_less(state: PacketState, header: int) -> Value:
    """The probe's IP total length less `header` bytes; None when the probe gave none."""
    return None if state.length is None else state.length - header


def _udp_length(state: PacketState) -> Value:
    return _length_less(state, 20 if state.family == 4 else 40)  # no options, no extensions


def _tcp_flags(state: PacketState) -> Value:
    return state.tcp_flags


def _th_sport(state: PacketState) -> Value:
    if state.proto in PORT_PROTOCOLS:
        return state.sport
    if state.proto in (1, 58) and state.icmp_type is not None:
        return (state.icmp_type << 8) | (state.icmp_code or 0)  # ICMP type and code bytes
    return None


def _th_dport(state: PacketState) -> Value:
    return state.dport if state.proto in PORT_PROTOCOLS else None  # ICMP: its checksum


def _src_mac(state: PacketState) -> Value:
    if state.src_mac is None:
        return None
    try:
        return int(state.src_mac.replace(":", ""), 16)
    except ValueError:
        return None


_PORT_FIELDS: dict[str, Reader] = {"sport": lambda s: s.sport, "dport": lambda s: s.dport}
_L3_FIELDS: dict[str, Reader] = {
    "saddr": lambda s: s.src, "daddr": lambda s: s.dst, "ttl": lambda s: s.ttl,
    "hoplimit": lambda s: s.ttl, "protocol": lambda s: s.proto, "nexthdr": lambda s: s.proto,
    "version": lambda s: s.family, "hdrlength": lambda s: 5,
    # Whole packets: no fragment offset, no more-fragments; DF is not known.
    "frag-off": lambda s: Bits(0, 0xBFFF, 16)}
_ICMP_FIELDS: dict[str, Reader] = {"type": lambda s: s.icmp_type, "code": lambda s: s.icmp_code}
_FIELDS: dict[str, dict[str, Reader]] = {
    # `ip length` is the total length; `ip6 length` the payload length, without the header.
    "ip": {**_L3_FIELDS, "length": lambda s: _length_less(s, 0)},
    "ip6": {**_L3_FIELDS, "length": lambda s: _length_less(s, 40)},
    "icmp": _ICMP_FIELDS, "icmpv6": _ICMP_FIELDS,
    "th": {"sport": _th_sport, "dport": _th_dport},
    "ether": {"saddr": _src_mac, "type": lambda s: 0x0800 if s.family == 4 else 0x86DD},
}
_META_TYPES = {"iifname": "ifname", "oifname": "ifname", "iif": "iface_index",
               "oif": "iface_index", "l4proto": "inet_proto", "protocol": "ether_type",
               "nfproto": "nf_proto", "mark": "mark", "pkttype": "pkt_type",
               "iiftype": "iface_type", "oiftype": "iface_type", "secpath": "boolean",
               "ibrname": "ifname", "obrname": "ifname", "sdifname": "ifname"}


def _meta(body: dict[str, Any], family: str) -> Built:
    key = str(body.get("key"))
    dtype = _META_TYPES.get(key, "integer")
    read: Reader | None = {
        "iifname": in_iface, "oifname": out_iface, "iif": in_iface, "oif": out_iface,
        "l4proto": lambda s: s.proto, "nfproto": lambda s: NF_PROTO["ipv4" if s.family == 4
                                                                    else "ipv6"],
        "protocol": lambda s: 0x0800 if s.family == 4 else 0x86DD,
        "mark": lambda s: None if "mark" in s.extra.get("nft_unknown", ()) else s.mark,
        "pkttype": _pkttype, "secpath": lambda s: 0,
        "iiftype": lambda s: _iftype(in_iface(s)), "oiftype": lambda s: _iftype(out_iface(s)),
        "skuid": _socket_owner, "skgid": _socket_owner, "cgroup": _socket_owner,
        "nftrace": lambda s: s.extra.get("nftrace"),
        # skb->len from the network header: the whole IP packet, as a probe's `length`.
        "length": lambda s: s.length,
    }.get(key)
    if read is None:
        return _unknown, dtype, f"meta {key}"
    return read, dtype, None


def _iftype(name: str) -> Value | _Break:
    if not name:
        return BREAK  # no device at this hook
    return 772 if name == "lo" else None


def _pkttype(state: PacketState) -> Value:
    kind = address_type(state, "dst")
    if kind is None:
        return None
    return {"MULTICAST": 2, "BROADCAST": 1}.get(kind, 0)


def _socket_owner(state: PacketState) -> Value | _Break:
    # A connection's first packet coming in has no socket yet; locally sent ones have one.
    if _at(state) in _IN_HOOKS and state.ct_state == "NEW":
        return BREAK
    return None


def _has_ct(state: PacketState) -> bool:
    return state.ct_attached and not state.untracked and \
        state.ct_state not in ("INVALID", "UNTRACKED")


def ct_state_bits(state: PacketState) -> int:
    """nft's `ct state` value: invalid before conntrack, untracked after notrack."""
    if state.untracked or state.ct_state == "UNTRACKED":
        return CT_STATE["untracked"]
    if not state.ct_attached:
        return CT_STATE["invalid"]
    return CT_STATE[state.ct_state.lower()]


# The NAT core marks a new connection SRC/DST_NAT_DONE once it has run on a hook (a null
# binding too), provided any NAT chain of the family exists in the namespace.
_DST_DONE, _SRC_DONE = 256, 128


def _nat_done_bits(state: PacketState) -> int:
    where = state.extra.get("nft_chain")
    if where is None or not (where[3] or state.extra.get("nat_core")):
        return 0
    at, priority, is_nat = where[0], where[1], where[2]

    def after(core: int) -> bool:  # a NAT chain runs before its core's binding is final
        return priority > core or (priority == core and not is_nat)

    bits = 0
    if at in ("INPUT", "FORWARD", "POSTROUTING") or after(-100):
        bits |= _DST_DONE
    if at in ("INPUT", "POSTROUTING") and after(100):
        bits |= _SRC_DONE
    return bits


def _ct_status(state: PacketState) -> Value:
    nat = (16 if state.snat_done else 0) | (32 if state.dnat_done else 0)
    if state.ct_state == "NEW":
        return nat | _nat_done_bits(state)  # not yet confirmed, assured or answered
    if state.ct_state == "ESTABLISHED":
        return Bits(2 | 8, 1 | 2 | 8 | 512, 32)  # seen-reply, confirmed; assured not known
    return Bits(1, 1, 32)  # related: expected


def _ct(body: dict[str, Any], family: str) -> Built:
    key, direction = str(body.get("key")), body.get("dir", "original")
    if key == "state":
        return ct_state_bits, "ct_state", None
    fam = body.get("family") or ("ip6" if family == "ip6" else "ip")
    dtype = {"status": "ct_status", "mark": "mark", "direction": "ct_dir",
             "l3proto": "nf_proto", "protocol": "inet_proto", "proto-src": "inet_service",
             "proto-dst": "inet_service", "zone": "integer", "helper": "ct_helper"}.get(
                 key, "ipv4_addr" if fam == "ip" else "ipv6_addr")
    original = direction != "reply"
    read: Reader | None = {
        "status": _ct_status, "mark": lambda s: s.ctmark, "direction": lambda s: 0,
        "l3proto": lambda s: NF_PROTO["ipv4" if s.family == 4 else "ipv6"],
        "protocol": lambda s: s.proto, "zone": lambda s: s.extra.get("ct_zone", 0),
        "saddr": (lambda s: s.orig_src) if original else (lambda s: s.dst),
        "daddr": (lambda s: s.orig_dst) if original else (lambda s: s.src),
        "proto-src": (lambda s: s.orig_sport) if original else (lambda s: s.dport),
        "proto-dst": (lambda s: s.orig_dport) if original else (lambda s: s.sport),
    }.get(key.split()[-1])
    version = 4 if fam == "ip" else 6
    opaque = None if read is not None else f"ct {key}"
    inner = read or _unknown

    def ct_read(state: PacketState) -> Value | _Break:
        if not _has_ct(state):
            return BREAK  # no connection: the kernel stops the rule
        if key.split()[-1] in ("saddr", "daddr") and state.family != version:
            return BREAK
        return inner(state)  # type: ignore[return-value]

    return ct_read, dtype, opaque


def _fib(body: dict[str, Any], family: str) -> Built:
    result = body.get("result")
    flags = body.get("flags")
    flags = set(flags if isinstance(flags, list) else [flags])
    if result != "type" or flags - {"saddr", "daddr"} or len(flags) != 1:
        dtype = {"oifname": "ifname", "type": "fib_addrtype"}.get(str(result), "iface_index")
        return _unknown, dtype, f"fib {' . '.join(sorted(str(f) for f in flags))} {result}"
    field = "dst" if "daddr" in flags else "src"

    def fib_type(state: PacketState) -> Value:
        kind = address_type(state, field)
        return None if kind is None else FIB_ADDRTYPE[kind.lower()]

    return fib_type, "fib_addrtype", None


def _exthdr(body: dict[str, Any], family: str) -> Built:
    # Segscope's packets carry no IPv6 extension headers: absent, and their fields unreadable.
    if "field" not in body:
        return (lambda s: 0), "boolean", None
    return _break, "integer", None


def _tcp_option(body: dict[str, Any], family: str) -> Built:
    dtype = "boolean" if "field" not in body else "integer"
    return (lambda s: None if s.proto == 6 else BREAK), dtype, f"tcp option {body.get('name')}"


def _ip_option(body: dict[str, Any], family: str) -> Built:
    if "field" not in body:
        return (lambda s: 0 if s.family == 4 else BREAK), "boolean", None
    return _break, "integer", None


def _chunk(number: int, what: str) -> Callable[[dict[str, Any], str], Built]:
    def build(body: dict[str, Any], family: str) -> Built:
        dtype = "boolean" if "field" not in body else "integer"
        return (lambda s: None if s.proto == number else BREAK), dtype, what

    return build


def _opaque(what: str, dtype: str = "integer") -> Callable[[dict[str, Any], str], Built]:
    def build(body: dict[str, Any], family: str) -> Built:
        return _unknown, dtype, what

    return build


_BUILDERS: dict[str, Callable[[dict[str, Any], str], Built]] = {
    "payload": _payload, "meta": _meta, "ct": _ct, "fib": _fib, "exthdr": _exthdr,
    "tcp option": _tcp_option, "ip option": _ip_option,
    "sctp chunk": _chunk(132, "sctp chunk"), "dccp option": _chunk(33, "dccp option"),
    "numgen": _opaque("numgen"), "jhash": _opaque("jhash"), "symhash": _opaque("symhash"),
    "socket": _opaque("socket"), "osf": _opaque("osf", "osf_name"), "rt": _opaque("rt"),
    "ipsec": lambda body, family: (_break, "integer", None),  # not IPsec-protected
}
