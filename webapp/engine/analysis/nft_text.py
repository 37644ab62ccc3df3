"""nft rule statements as an operator types them, turned into `nft -j` expressions: the common
matches (addresses, interfaces, ports, protocols, conntrack state, ICMP types) and verdicts.
Anything else is refused with a reason rather than guessed."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_TOKEN = re.compile(r'"[^"]*"|\{|\}|,|[^\s{},]+')
_PAYLOAD = {"ip": ("saddr", "daddr", "protocol"), "ip6": ("saddr", "daddr", "nexthdr"),
            "tcp": ("sport", "dport"), "udp": ("sport", "dport"),
            "icmp": ("type",), "icmpv6": ("type",)}
_META = ("l4proto", "iifname", "oifname", "mark", "nfproto", "protocol")
_VERDICTS = ("accept", "drop", "return", "continue")


class StatementError(ValueError):
    """Statements this reader does not know; the message says which."""


def parse_statements(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """`nft -j` expressions for a rule's statements, and its comment if it has one."""
    tokens = [t for t in _TOKEN.findall(text)]
    out: list[dict[str, Any]] = []
    comment: str | None = None
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word in _PAYLOAD and i + 1 < len(tokens) and tokens[i + 1] in _PAYLOAD[word]:
            left: dict[str, Any] = {"payload": {"protocol": word, "field": tokens[i + 1]}}
            i, op, right = _value(tokens, i + 2, f"{word} {tokens[i + 1]}")
            out.append({"match": {"op": op, "left": left, "right": right}})
        elif word in ("iifname", "oifname"):
            i, op, right = _value(tokens, i + 1, word)
            out.append({"match": {"op": op, "left": {"meta": {"key": word}}, "right": right}})
        elif word == "meta" and i + 1 < len(tokens) and tokens[i + 1] in _META:
            key = tokens[i + 1]
            i, op, right = _value(tokens, i + 2, f"meta {key}")
            out.append({"match": {"op": op, "left": {"meta": {"key": key}}, "right": right}})
        elif word == "ct" and i + 1 < len(tokens) and tokens[i + 1] == "state":
            i, op, right = _value(tokens, i + 2, "ct state")
            states = right["set"] if isinstance(right, dict) and "set" in right else [right]
            out.append({"match": {"op": "in" if op == "==" else op,
                                  "left": {"ct": {"key": "state"}},
                                  "right": states if len(states) > 1 else states[0]}})
        elif word == "counter":
            out.append({"counter": {"packets": 0, "bytes": 0}})
            i += 1
        elif word in _VERDICTS:
            out.append({word: None})
            i += 1
        elif word == "reject":
            out.append({"reject": None})
            i += 1
        elif word in ("jump", "goto"):
            if i + 1 >= len(tokens):
                raise StatementError(f"{word} needs a chain")
            out.append({word: {"target": _unquote(tokens[i + 1])}})
            i += 2
        elif word == "log":
            body: dict[str, Any] = {}
            i += 1
            if i + 1 < len(tokens) and tokens[i] == "prefix":
                body["prefix"] = _unquote(tokens[i + 1])
                i += 2
            out.append({"log": body or None})
        elif word == "comment":
            if i + 1 >= len(tokens):
                raise StatementError("comment needs a text")
            comment = _unquote(tokens[i + 1])
            i += 2
        else:
            raise StatementError(f"statement {word!r} is not one Segscope can evaluate here")
    if not out:
        raise StatementError("the rule has no statements")
    return out, comment


def _value(tokens: list[str], i: int, what: str) -> tuple[int, str, Any]:
    op = "=="
    if i < len(tokens) and tokens[i] in ("==", "!=", "eq", "ne"):
        op = "!=" if tokens[i] in ("!=", "ne") else "=="
        i += 1
    if i >= len(tokens):
        raise StatementError(f"{what} needs a value")
    if tokens[i] == "{":
        items = []
        i += 1
        while i < len(tokens) and tokens[i] != "}":
            if tokens[i] != ",":
                items.append(_scalar(tokens[i]))
            i += 1
        if i >= len(tokens):
            raise StatementError(f"{what}: unclosed {{")
        return i + 1, op, {"set": items}
    return i + 1, op, _scalar(tokens[i])


def _scalar(token: str) -> Any:
    if token.startswith('"'):
        return token.strip('"')
    if token.startswith("@"):
        return token
    if token.isdigit():
        return int(token)
    low, dash, high = token.partition("-")
    if dash and low.isdigit() and high.isdigit():
        return {"range": [int(low), int(high)]}
    if "/" in token:
        try:
            network = ipaddress.ip_network(token, strict=False)
        except ValueError:
            raise StatementError(f"not a network: {token!r}") from None
        return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}
    if dash:
        try:
            ipaddress.ip_address(low)
            ipaddress.ip_address(high)
            return {"range": [low, high]}
        except ValueError:
            pass
    return token


def _unquote(token: str) -> str:
    return token.strip('"')
