"""The libnftables JSON vocabulary Segscope knows, standard priority names, and a walker that
finds whatever a dump holds beyond it (kept verbatim and reported with a JSON path)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

STATEMENTS = frozenset({
    "accept", "drop", "continue", "return", "jump", "goto", "match", "counter", "mangle",
    "quota", "limit", "flow", "fwd", "notrack", "dup", "snat", "dnat", "masquerade",
    "redirect", "reject", "set", "map", "log", "ct helper", "ct timeout", "ct expectation",
    "meter", "queue", "vmap", "ct count", "tproxy", "synproxy", "reset", "secmark", "xt",
    "last",
})
EXPRESSIONS = frozenset({
    "concat", "set", "map", "prefix", "range", "payload", "exthdr", "tcp option", "ip option",
    "sctp chunk", "dccp option", "meta", "osf", "ipsec", "socket", "rt", "ct", "numgen",
    "jhash", "symhash", "fib", "|", "^", "&", "<<", ">>", "accept", "drop", "continue",
    "jump", "goto", "return", "elem",
})
OPERATORS = frozenset({"==", "!=", "<", ">", "<=", ">=", "in", "&", "|", "^", "<<", ">>"})
META_KEYS = frozenset({
    "length", "protocol", "priority", "random", "mark", "iif", "iifname", "iiftype", "oif",
    "oifname", "oiftype", "skuid", "skgid", "nftrace", "rtclassid", "ibrname", "obrname",
    "ibriport", "obriport", "ibridgename", "obridgename", "pkttype", "cpu", "iifgroup",
    "oifgroup", "cgroup", "nfproto", "l4proto", "secpath", "ipsec", "iifkind", "oifkind",
    "ibrpvid", "ibrvproto", "time", "day", "hour", "secmark", "sdif", "sdifname", "broute",
})
CT_KEYS = frozenset({
    "state", "direction", "status", "mark", "expiration", "helper", "l3proto", "saddr",
    "daddr", "protocol", "proto-src", "proto-dst", "label", "bytes", "packets", "avgpkt",
    "zone", "event", "secmark", "id", "ip saddr", "ip daddr", "ip6 saddr", "ip6 daddr",
})
PAYLOAD_FIELDS: dict[str, frozenset[str]] = {
    "ether": frozenset({"daddr", "saddr", "type"}),
    "vlan": frozenset({"id", "dei", "cfi", "pcp", "type"}),
    "arp": frozenset({"htype", "ptype", "hlen", "plen", "operation", "saddr ether",
                      "daddr ether", "saddr ip", "daddr ip"}),
    "ip": frozenset({"version", "hdrlength", "dscp", "ecn", "length", "id", "frag-off", "ttl",
                     "protocol", "checksum", "saddr", "daddr"}),
    "icmp": frozenset({"type", "code", "checksum", "id", "sequence", "gateway", "mtu"}),
    "igmp": frozenset({"type", "mrt", "checksum", "group"}),
    "ip6": frozenset({"version", "dscp", "ecn", "flowlabel", "length", "nexthdr", "hoplimit",
                      "saddr", "daddr"}),
    "icmpv6": frozenset({"type", "code", "checksum", "parameter-problem", "packet-too-big",
                         "id", "sequence", "max-delay", "taddr", "daddr"}),
    "tcp": frozenset({"sport", "dport", "sequence", "ackseq", "doff", "reserved", "flags",
                      "window", "checksum", "urgptr"}),
    "udp": frozenset({"sport", "dport", "length", "checksum"}),
    "udplite": frozenset({"sport", "dport", "csumcov", "checksum"}),
    "sctp": frozenset({"sport", "dport", "vtag", "checksum"}),
    "dccp": frozenset({"sport", "dport", "type"}),
    "th": frozenset({"sport", "dport"}),
    "ah": frozenset({"nexthdr", "hdrlength", "reserved", "spi", "sequence"}),
    "esp": frozenset({"spi", "sequence"}),
    "comp": frozenset({"nexthdr", "flags", "cpi"}),
}

# Standard priority names (nft(8), "CHAINS"): by family, then by hook where the value differs.
_PRIORITY_NAMES: dict[str, dict[str, int]] = {
    "ip": {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50,
           "srcnat": 100},
    "bridge": {"dstnat": -300, "filter": -200, "out": 100, "srcnat": 300},
    "arp": {"filter": 0},
    "netdev": {"filter": 0},
}
_PRIORITY_NAMES["ip6"] = _PRIORITY_NAMES["inet"] = _PRIORITY_NAMES["ip"]
_PRIORITY_TEXT = re.compile(r"^\s*([a-z]+)?\s*(?:([+-])\s*(\d+))?\s*$")


def priority_value(family: str, value: object) -> int | None:
    """A chain priority as a number: `-150`, `"mangle"`, `"filter + 10"`; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    found = _PRIORITY_TEXT.match(text)
    if not found or not found.group(1):
        return None
    base = _PRIORITY_NAMES.get(family, {}).get(found.group(1))
    if base is None:
        return None
    offset = int(found.group(3) or 0)
    return base - offset if found.group(2) == "-" else base + offset


def compact(value: Any) -> str:
    """A JSON value on one line, as the dump spelled it."""
    return json.dumps(value, separators=(", ", ": "), sort_keys=False)


Report = Callable[[str, str, Any], None]  # (path, kind, value)


def walk_statement(stmt: Any, path: str, report: Report) -> None:
    """Report every part of one rule statement outside the known vocabulary."""
    if not isinstance(stmt, dict) or len(stmt) != 1:
        report(path, "malformed statement", stmt)
        return
    kind, body = next(iter(stmt.items()))
    if kind not in STATEMENTS:
        report(path, f"statement {kind}", stmt)
        return
    sub = f"{path}.{kind}"
    if kind == "match":
        if not isinstance(body, dict) or body.get("op") not in OPERATORS:
            report(sub, "match operator", stmt)
            return
        walk_expression(body.get("left"), f"{sub}.left", report)
        walk_expression(body.get("right"), f"{sub}.right", report)
        return
    if not isinstance(body, dict):
        return
    for name in ("key", "value", "data", "elem", "addr", "port", "dev", "num"):
        if name in body:
            walk_expression(body[name], f"{sub}.{name}", report)
    if kind not in ("set", "map") and isinstance(body.get("map"), dict):
        walk_expression({"map": body["map"]}, sub, report)  # `counter name ... map {...}`
    for i, inner in enumerate(as_list(body.get("stmt"))):
        walk_statement(inner, f"{sub}.stmt[{i}]", report)


def walk_expression(expr: Any, path: str, report: Report) -> None:
    """Report every sub-expression outside the known vocabulary (immediates are always known)."""
    if expr is None or isinstance(expr, (str, int, float, bool)):
        return
    if isinstance(expr, list):
        for i, item in enumerate(expr):
            walk_expression(item, f"{path}[{i}]", report)
        return
    if not isinstance(expr, dict) or len(expr) != 1:
        report(path, "malformed expression", expr)
        return
    kind, body = next(iter(expr.items()))
    sub = f"{path}.{kind}"
    if kind not in EXPRESSIONS:
        report(path, f"expression {kind}", expr)
        return
    problem = _field_problem(kind, body)
    if problem:
        report(path, problem, expr)
        return
    if isinstance(body, list):
        walk_expression(body, sub, report)
    elif isinstance(body, dict):
        for name in ("key", "data", "expr", "addr", "val", "left", "right"):
            if name in body:
                walk_expression(body[name], f"{sub}.{name}", report)
    elif kind == "set":
        walk_expression(body, sub, report)


def _field_problem(kind: str, body: Any) -> str | None:
    if kind == "meta":
        key = body.get("key") if isinstance(body, dict) else None
        return None if key in META_KEYS else f"meta {key}"
    if kind == "ct":
        key = body.get("key") if isinstance(body, dict) else None
        return None if key in CT_KEYS else f"ct {key}"
    if kind == "payload" and isinstance(body, dict):
        if "tunnel" in body:
            return f"payload {body['tunnel']} (inner header)"
        if "base" in body:
            return None
        proto, fld = body.get("protocol"), body.get("field")
        if proto not in PAYLOAD_FIELDS:
            return f"payload {proto}"
        return None if fld in PAYLOAD_FIELDS[proto] else f"payload {proto} {fld}"
    return None


def as_list(value: Any) -> list[Any]:
    """nft JSON's "one or a list": None as no value, a single value as a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def as_strings(value: Any) -> list[str]:
    """as_list, each value as text."""
    return [str(v) for v in as_list(value)]
