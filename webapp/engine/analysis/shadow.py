"""Shadowed iptables rules: rules that no packet can reach, because an earlier rule of the same
chain takes every packet they match, or because nothing jumps to their chain."""

from __future__ import annotations

from collections.abc import Iterator

from collectors.iptables import Match, Option, Rule, Ruleset
from webapp.engine.values import ValueParseError, parse_cidr, parse_port_list

_FINAL = frozenset({"ACCEPT", "DROP", "REJECT"})
_PORT_MODULES = frozenset({"tcp", "udp", "sctp", "udplite", "dccp"})
_BUILTIN = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})


def shadowed_rules(ruleset: Ruleset) -> Iterator[tuple[Rule, str]]:
    """(rule, why) for every shadowed rule of every table."""
    for table in ruleset.tables.values():
        referenced = {r.target for c in table.chains.values() for r in c.rules if r.target}
        for chain in table.chains.values():
            if chain.name not in _BUILTIN and chain.name not in referenced:
                for rule in chain.rules:
                    yield rule, f"chain {chain.name} is never jumped to"
                continue
            earlier: list[Rule] = []
            for rule in chain.rules:
                for before in earlier:
                    if _covers(before, rule):
                        yield rule, (f"rule {before.number} (line {before.line}) takes every "
                                     f"packet it matches with -j {before.target}")
                        break
                if rule.target in _FINAL and not rule.goto:
                    earlier.append(rule)


def _covers(before: Rule, rule: Rule) -> bool:
    """Whether every packet `rule` matches also matches `before` (read from their options)."""
    try:
        return (all(_base_implied(opt, rule) for opt in before.spec.base)
                and all(_match_implied(match, rule) for match in before.spec.matches
                        if match.module != "comment"))
    except ValueParseError:
        return False


def _base_implied(opt: Option, rule: Rule) -> bool:
    mine = rule.base_option(opt.name)
    if mine is None:
        return opt.name == "protocol" and opt.value == "all" and not opt.negated
    if opt.negated or mine.negated:
        return opt == mine
    if opt.name in ("source", "destination"):
        family, first, _, last = parse_cidr(opt.value)
        family_mine, first_mine, _, last_mine = parse_cidr(mine.value)
        return family == family_mine and first <= first_mine and last_mine <= last
    return opt.value == mine.value


def _match_implied(match: Match, rule: Rule) -> bool:
    mine = next((m for m in rule.spec.matches if m.module == match.module), None)
    if mine is None:
        return False
    if match.module in _PORT_MODULES or match.module == "multiport":
        return all(_port_option_implied(opt, mine) for opt in match.options)
    return set(match.options) <= set(mine.options)


def _port_option_implied(opt: Option, mine: Match) -> bool:
    theirs = mine.option(opt.name)
    if theirs is None:
        return False
    if opt.negated or theirs.negated or "port" not in opt.name:
        return opt == theirs
    wide = parse_port_list(opt.value)
    narrow = parse_port_list(theirs.value)
    return all(any(lo <= n_lo and n_hi <= hi for lo, hi in wide) for n_lo, n_hi in narrow)
