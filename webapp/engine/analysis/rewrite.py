"""A host's dumps with proposed changes applied, as the tools would print them afterwards:
iptables-save text with the rule at its position, ipset save with the member added or removed,
`nft -j` JSON with the rule and a new handle. The originals are never touched."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any

from collectors.errors import ParseError
from collectors.ipset.parser import parse_ipset_save
from collectors.iptables import parse_iptables_save
from webapp.engine.analysis.changes import (
    ChangeError,
    HostChange,
    IpsetChange,
    IptablesChange,
    NftChange,
)
from webapp.engine.analysis.nft_text import StatementError, parse_statements

_LONG = {"--source": "-s", "--src": "-s", "--destination": "-d", "--dst": "-d",
         "--protocol": "-p", "--jump": "-j", "--goto": "-g", "--in-interface": "-i",
         "--out-interface": "-o", "--match": "-m", "--fragment": "-f"}
_PORT_MODULES = ("tcp", "udp", "sctp", "udplite", "dccp")
_MODULE_OPTIONS = {"--dport": None, "--sport": None, "--destination-port": None,
                   "--source-port": None, "--tcp-flags": "tcp", "--syn": "tcp",
                   "--icmp-type": "icmp", "--icmpv6-type": "icmp6"}
_LOG_TARGETS = ("LOG", "NFLOG", "ULOG")


def apply_changes(dumps: Mapping[str, str], changes: Sequence[HostChange],
                  filename: str) -> dict[str, str]:
    """The dumps after every change (in order); ChangeError names the change that cannot
    apply (no such chain, rule, handle or set, a rule the parser refuses)."""
    out = dict(dumps)
    for change in changes:
        try:
            if isinstance(change, IptablesChange):
                name = "iptables-save" if change.family == 4 else "ip6tables-save"
                if not out.get(name):
                    raise ValueError(f"{change.host} has no {name} dump")
                out[name] = apply_iptables(out[name], change)
                parse_iptables_save(out[name], name).check()
            elif isinstance(change, IpsetChange):
                if not out.get("ipset-save"):
                    raise ValueError(f"{change.host} has no ipset-save dump")
                out["ipset-save"] = apply_ipset(out["ipset-save"], change)
                parse_ipset_save(out["ipset-save"], "ipset-save")
            else:
                if not out.get("nft.json"):
                    raise ValueError(f"{change.host} has no nft.json dump")
                out["nft.json"] = apply_nft(out["nft.json"], change)
        except ParseError as exc:
            raise ChangeError(filename, change.line, f"the result does not parse: {exc}") \
                from None
        except (ValueError, StatementError) as exc:
            raise ChangeError(filename, change.line, str(exc)) from None
    return out


# -- iptables ---------------------------------------------------------------------------------

def saved_form(args: Sequence[str]) -> list[str]:
    """A rule's arguments as iptables-save prints them: short options, the implicit match
    module of `-p tcp --dport` written out, host addresses with their prefix length."""
    out: list[str] = []
    modules: set[str] = set()
    proto: str | None = None
    i = 0
    while i < len(args):
        token = _LONG.get(args[i], args[i])
        if token == "-m" and i + 1 < len(args):
            modules.add(args[i + 1])
        if token == "-p" and i + 1 < len(args):
            proto = args[i + 1]
        if token in ("-s", "-d") and i + 1 < len(args):
            out.extend([token, _with_prefix(args[i + 1])])
            i += 2
            continue
        needs = _MODULE_OPTIONS.get(token, "") if token.startswith("--") else ""
        if token in _MODULE_OPTIONS:
            module = needs or (proto if proto in _PORT_MODULES else None)
            if module and module not in modules:
                # The option belongs to the protocol's module: iptables loads it implicitly.
                anchor = len(out) - 1 if out and out[-1] == "!" else len(out)
                out[anchor:anchor] = ["-m", module]
                modules.add(module)
        out.append(token)
        i += 1
    return out


def _with_prefix(text: str) -> str:
    if "/" in text or not text:
        return text
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    return f"{text}/{address.max_prefixlen}"


def render_rule(chain: str, args: Sequence[str]) -> str:
    return " ".join(["-A", chain, *(_quote(a) for a in saved_form(args))])


def _quote(token: str) -> str:
    if token == "" or any(c.isspace() for c in token):
        return '"' + token.replace('"', '\\"') + '"'
    return token


def _body(line: str) -> str:
    """A rule line without its counters."""
    text = line.strip()
    if text.startswith("["):
        text = text.split("]", 1)[1].strip()
    return text


def _same_rule(line: str, chain: str, args: Sequence[str]) -> bool:
    import shlex

    try:
        have = shlex.split(_body(line))
    except ValueError:
        return False
    return saved_form(have[2:]) == saved_form(args) and have[:2] == ["-A", chain]


def apply_iptables(text: str, change: IptablesChange) -> str:
    """iptables-save text with one rule inserted, appended, deleted or replaced."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == f"*{change.table}"), None)
    if start is None:
        raise ValueError(f"{change.host} has no {change.table} table")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() == "COMMIT"),
               len(lines))
    declared = {ln.strip()[1:].split()[0] for ln in lines[start:end] if ln.startswith(":")}
    if change.chain not in declared:
        raise ValueError(f"no chain {change.chain} in {change.host}'s {change.table} table")
    rules = [i for i in range(start, end) if _body(lines[i]).startswith(f"-A {change.chain} ")]
    # A new rule is written without counters: it has no history to be judged unused by.
    new = render_rule(change.chain, change.rule) if change.rule else ""
    number = change.number
    if change.operation == "delete" and number is None:
        found = [k for k, i in enumerate(rules) if _same_rule(lines[i], change.chain,
                                                               change.rule)]
        if not found:
            raise ValueError(f"no rule in {change.chain} reads {' '.join(change.rule)!r}")
        number = found[0] + 1
    if change.operation in ("delete", "replace"):
        assert number is not None
        if number > len(rules):
            raise ValueError(f"{change.chain} has {len(rules)} rules, not {number}")
        index = rules[number - 1]
        lines[index:index + 1] = [new] if change.operation == "replace" else []
    else:
        position = len(rules) + 1 if change.operation == "append" else (number or 1)
        if position > len(rules) + 1:
            raise ValueError(f"{change.chain} has {len(rules)} rules: -I takes 1 to "
                             f"{len(rules) + 1}")
        if position <= len(rules):
            index = rules[position - 1]
        elif rules:
            index = rules[-1] + 1
        else:
            index = end
        lines.insert(index, new)
    return "\n".join(lines) + "\n"


def is_log_rule(text: str) -> bool:
    """A rule that only logs (LOG, NFLOG): it does not change what happens to the packet."""
    words = _body(text).split()
    return any(words[i] == "-j" and words[i + 1] in _LOG_TARGETS
               for i in range(len(words) - 1))


# -- ipset ------------------------------------------------------------------------------------

def _member_key(text: str) -> str:
    first, _, rest = text.strip().partition(" ")
    parts = []
    for part in first.split(","):
        try:
            network = ipaddress.ip_network(part, strict=False)
            parts.append(str(network.network_address) if network.prefixlen ==
                         network.max_prefixlen else str(network))
        except ValueError:
            parts.append(part.lower())
    return ",".join(parts)


def apply_ipset(text: str, change: IpsetChange) -> str:
    """ipset save text with a member added or removed."""
    lines = text.splitlines()
    mentions = [i for i, ln in enumerate(lines)
                if ln.split()[:2] in (["create", change.set_name], ["add", change.set_name])]
    if not mentions or lines[mentions[0]].split()[0] != "create":
        raise ValueError(f"no set {change.set_name} on {change.host}")
    key = _member_key(change.member)
    members = [i for i in mentions if lines[i].split()[0] == "add"
               and _member_key(lines[i].split(None, 2)[2]) == key]
    if change.operation == "add":
        if not members:
            lines.insert(mentions[-1] + 1, f"add {change.set_name} {change.member}")
    else:
        if not members:
            raise ValueError(f"{change.member} is not in {change.set_name}")
        del lines[members[0]]
    return "\n".join(lines) + "\n"


# -- nftables ---------------------------------------------------------------------------------

def apply_nft(text: str, change: NftChange) -> str:
    """`nft -j list ruleset` JSON with one rule inserted, added or deleted."""
    data = json.loads(text)
    items: list[Any] = data.get("nftables", [])

    def where(kind: str, item: Any) -> bool:
        body = item.get(kind) if isinstance(item, dict) else None
        return isinstance(body, dict) and body.get("family") == change.family and \
            body.get("table") == change.table and (kind == "table" or body.get(
                "chain" if kind == "rule" else "name") == change.chain)

    chain_at = next((i for i, item in enumerate(items) if where("chain", item)), None)
    if chain_at is None:
        raise ValueError(f"no chain {change.family} {change.table} {change.chain} on "
                         f"{change.host}")
    rules = [i for i, item in enumerate(items) if where("rule", item)]
    target = None
    if change.handle is not None:
        target = next((i for i in rules if items[i]["rule"].get("handle") == change.handle),
                      None)
        if target is None:
            raise ValueError(f"no rule with handle {change.handle} in {change.chain}")
    if change.operation == "delete":
        assert target is not None
        del items[target]
        return json.dumps(data)
    expr, comment = parse_statements(" ".join(change.statements))
    handles = [item[k].get("handle", 0) for item in items if isinstance(item, dict)
               for k in item if isinstance(item[k], dict) and isinstance(
                   item[k].get("handle"), int)]
    rule: dict[str, Any] = {"family": change.family, "table": change.table,
                            "chain": change.chain, "handle": max(handles, default=0) + 1,
                            "expr": expr}
    if comment is not None:
        rule["comment"] = comment
    if change.operation == "insert":
        index = target if target is not None else (rules[0] if rules else chain_at + 1)
    else:
        index = target + 1 if target is not None else (rules[-1] + 1 if rules else chain_at + 1)
    items.insert(index, {"rule": rule})
    return json.dumps(data)
