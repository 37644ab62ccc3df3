"""A snapshot's dumps turned into the rows the rules app stores; pure, no database.

Each dump goes through its collector's parser. A dump that cannot be read raises the parser's
ParseError (file, line, column, reason); what a parser kept without understanding comes back as
warnings. nft JSON is parsed only where the nft parser is installed.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from collectors.agent.protocol import snapshot_hash
from collectors.errors import ParseError, ParseWarning
from collectors.flowlogs.parsing import collector_paused
from collectors.ipset import IpSetDump, IpsetParseError, SetMember, parse_ipset_save
from collectors.iptables import Ruleset, parse_iptables_save

IPTABLES_DUMPS = {"iptables-save": "ipv4", "ip6tables-save": "ipv6"}
IPSET_DUMP = "ipset-save"
NFT_DUMP = "nft.json"
STORED_ONLY = frozenset({"conntrack.txt"})  # kept as evidence; flows arrive on their own API
DUMP_NAMES = (*IPTABLES_DUMPS, IPSET_DUMP, NFT_DUMP, *sorted(STORED_ONLY))
MAX_WARNINGS = 1000

# Every parse failure a dump may raise; IpsetParseError is a ParseError today, named here so
# that the ipset parser may change its base without 500s here.
DUMP_ERRORS: tuple[type[Exception], ...] = (ParseError, IpsetParseError)
_NFT_VERDICTS = ("accept", "drop", "reject", "return", "queue", "continue", "jump", "goto")


class TableRow(NamedTuple):
    """A parsed table."""

    source: str
    family: str
    name: str
    line: int
    chain_count: int
    rule_count: int


class ChainRow(NamedTuple):
    """A parsed chain."""

    source: str
    family: str
    table: str
    name: str
    policy: str
    hook: str
    packets: int | None
    bytes: int | None
    line: int
    rule_count: int


class RuleRow(NamedTuple):
    """A parsed rule."""

    source: str
    family: str
    table: str
    chain: str
    position: int
    line: int
    text: str
    target: str
    packets: int | None
    bytes: int | None


class SetRow(NamedTuple):
    """A parsed set, members as element texts."""

    source: str
    family: str
    table: str
    name: str
    type: str
    line: int
    members: list[str]


class TooManyRules(ValueError):
    """A snapshot holding more rules than SEGSCOPE_MAX_RULES allows."""

    def __init__(self, count: int, maximum: int) -> None:
        super().__init__(f"the dumps hold at least {count} rules; the limit is {maximum}")
        self.count, self.maximum = count, maximum


@dataclass(slots=True)
class ParsedDumps:
    """Every row of one snapshot's dumps, and the warnings met on the way."""

    tables: list[TableRow] = field(default_factory=list)
    chains: list[ChainRow] = field(default_factory=list)
    rules: list[RuleRow] = field(default_factory=list)
    sets: list[SetRow] = field(default_factory=list)
    warnings: list[dict[str, object]] = field(default_factory=list)

    def warn(self, filename: str, line: int, message: str) -> None:
        self.warnings.append(ParseWarning(filename, line, message).to_dict())


def content_hash(dumps: Mapping[str, str]) -> str:
    """The snapshot hash the agent computes too (one function, so the two never drift)."""
    return snapshot_hash(dumps)


def error_dict(exc: Exception) -> dict[str, object]:
    """file/line/column/reason of a parser's error, whichever parser raised it."""
    return {"file": getattr(exc, "filename", "<input>"), "line": getattr(exc, "line", 0),
            "column": getattr(exc, "column", 0), "reason": getattr(exc, "reason", str(exc))}


def parse_dumps(dumps: Mapping[str, str], *, max_rules: int) -> ParsedDumps:
    """Parse every dump of a snapshot; raises a DUMP_ERRORS error or TooManyRules."""
    # A row per rule lives on and forms no cycle: the cyclic collector walking them on every
    # allocation burst would cost as much as the parsing (as for flow logs).
    with collector_paused():
        parsed = _parse_all(dumps, max_rules)
    if len(parsed.warnings) > MAX_WARNINGS:
        more = len(parsed.warnings) - MAX_WARNINGS
        del parsed.warnings[MAX_WARNINGS:]
        parsed.warn("", 0, f"{more} more warnings not shown")
    return parsed


def _parse_all(dumps: Mapping[str, str], max_rules: int) -> ParsedDumps:
    parsed = ParsedDumps()
    for name in sorted(dumps):
        text = dumps[name]
        if name in IPTABLES_DUMPS:
            ruleset = parse_iptables_save(text, name, remember_rules=True)
            # Counted before the rules are decoded, the costly part of parsing.
            _check_limit(len(parsed.rules) + ruleset.rule_count, max_rules)
            _add_iptables(parsed, ruleset.check(), IPTABLES_DUMPS[name])
        elif name == IPSET_DUMP:
            _add_ipsets(parsed, parse_ipset_save(text, name))
        elif name == NFT_DUMP:
            _add_nft(parsed, text, name, max_rules)
        elif name not in STORED_ONLY:
            parsed.warn(name, 0, f"unknown dump {name!r}: stored, not parsed")
    return parsed


def _check_limit(count: int, maximum: int) -> None:
    if count > maximum:
        raise TooManyRules(count, maximum)


def _add_iptables(parsed: ParsedDumps, ruleset: Ruleset, family: str) -> None:
    source = ruleset.filename
    parsed.warnings.extend(w.to_dict() for w in ruleset.warnings)
    for table in ruleset.tables.values():
        parsed.tables.append(TableRow(
            source, family, table.name, table.line, len(table.chains),
            sum(len(c.rules) for c in table.chains.values())))
        for chain in table.chains.values():
            parsed.chains.append(ChainRow(
                source, family, table.name, chain.name, chain.policy or "", "",
                chain.packets, chain.bytes, chain.line, len(chain.rules)))
            for rule in chain.rules:
                text = rule.text
                if text[0] == "[":  # `-c` counters, stored in their own columns
                    text = text[text.find("]") + 1:].lstrip()
                parsed.rules.append(RuleRow(
                    source, family, table.name, chain.name, rule.number, rule.line, text,
                    rule.target or "", rule.packets, rule.bytes))


def _add_ipsets(parsed: ParsedDumps, dump: IpSetDump) -> None:
    parsed.warnings.extend(w.to_dict() for w in dump.warnings)
    for ipset in dump.sets.values():
        parsed.sets.append(SetRow(
            dump.filename, ipset.family or "", "", ipset.name, ipset.set_type, ipset.line,
            [_ipset_member(m) for m in ipset.members]))


def _ipset_member(member: SetMember) -> str:
    parts = []
    for value in member.values:
        if value is None:
            continue
        if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network) and (
                value.prefixlen == value.max_prefixlen):
            parts.append(str(value.network_address))
        else:
            parts.append(str(value))
    text = ",".join(parts)
    return f"{text} nomatch" if member.nomatch else text


@dataclass(frozen=True, slots=True)
class _NftParser:
    parse: Callable[[str, str], Any]
    render: Callable[[Any], str]


@cache
def nft_parser() -> _NftParser | None:
    """The nft JSON parser where `collectors.nft` provides one, else None."""
    try:
        package = importlib.import_module("collectors.nft")
        parse = getattr(package, "parse_nft_json", None)
        if parse is None:
            parse = importlib.import_module("collectors.nft.parse").parse_nft_json
        render = getattr(importlib.import_module("collectors.nft.render"), "render_expression",
                         None)
    except (ImportError, AttributeError):
        return None
    return _NftParser(parse, render or _compact)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _add_nft(parsed: ParsedDumps, text: str, name: str, max_rules: int) -> None:
    parser = nft_parser()
    if parser is None:
        parsed.warn(name, 0, "stored, not parsed: this installation has no nft JSON parser")
        return
    try:
        ruleset = parser.parse(text, name)
    except DUMP_ERRORS:
        raise
    except Exception as exc:  # the nft parser is young: keep the evidence
        parsed.warn(name, 0, f"stored, not parsed: the nft parser failed ({exc!r})")
        return
    _check_limit(len(parsed.rules) + ruleset.rule_count, max_rules)
    parsed.warnings.extend(w.to_dict() for w in ruleset.warnings)
    for table in ruleset.tables.values():
        parsed.tables.append(TableRow(
            name, table.family, table.name, 0, len(table.chains),
            sum(len(c.rules) for c in table.chains.values())))
        for chain in table.chains.values():
            parsed.chains.append(ChainRow(
                name, table.family, table.name, chain.name, chain.policy or "", chain.hook or "",
                None, None, 0, len(chain.rules)))
            for rule in chain.rules:
                packets, nbytes = _nft_counter(rule.expr)
                parsed.rules.append(RuleRow(
                    name, rule.family, rule.table, rule.chain, rule.position, rule.line,
                    rule.text, _nft_verdict(rule.expr), packets, nbytes))
        for nft_set in table.sets.values():
            parsed.sets.append(SetRow(
                name, table.family, table.name, nft_set.name, _nft_set_type(nft_set),
                0, [_element_text(parser, e) for e in nft_set.elements]))


def _nft_verdict(statements: Iterable[Any]) -> str:
    verdict = ""
    for statement in statements:
        if isinstance(statement, dict):
            for key in _NFT_VERDICTS:
                if key in statement:
                    body = statement[key]
                    target = body.get("target") if isinstance(body, dict) else None
                    verdict = str(target) if key in ("jump", "goto") and target else key
    return verdict


def _nft_counter(statements: Iterable[Any]) -> tuple[int | None, int | None]:
    for statement in statements:
        if isinstance(statement, dict) and isinstance(statement.get("counter"), dict):
            counter = statement["counter"]
            packets, nbytes = counter.get("packets"), counter.get("bytes")
            if isinstance(packets, int) and isinstance(nbytes, int):
                return packets, nbytes
    return None, None


def _nft_set_type(nft_set: Any) -> str:
    key = " . ".join(nft_set.key_types)
    return f"{key} : {' . '.join(nft_set.data_type)}" if nft_set.data_type else key


def _element_text(parser: _NftParser, element: Any) -> str:
    if isinstance(element, str | int):
        return str(element)
    try:
        return parser.render(element)
    except Exception:  # a rendering gap must not lose the member
        return _compact(element)
