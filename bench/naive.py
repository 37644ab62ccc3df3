"""A straightforward rule-by-rule interpreter: the baseline the compiled engine is measured against.

It reads each rule's options on every packet, as a first implementation would. It supports the
options the benchmark tables use and nothing more."""

from __future__ import annotations

import ipaddress

from collectors.iptables import Ruleset


def naive_verdict(ruleset: Ruleset, chain_name: str, src: str, proto: str, dport: int,
                  out_iface: str | None = None) -> tuple[str, str, int | None]:
    chains = ruleset.tables["filter"].chains
    stack: list[tuple[str, int]] = []
    chain, position = chain_name, 0
    while True:
        rules = chains[chain].rules
        if position >= len(rules):
            if not stack:
                return str(chains[chain_name].policy), chain_name, None
            chain, position = stack.pop()
            continue
        rule = rules[position]
        position += 1
        if not _matches(rule, src, proto, dport, out_iface):
            continue
        target = rule.target
        if target in ("ACCEPT", "DROP", "REJECT"):
            return target, chain, rule.number
        if target in chains:
            stack.append((chain, position))
            chain, position = target, 0


def _matches(rule, src: str, proto: str, dport: int, out_iface: str | None) -> bool:
    for opt in rule.base:
        if opt.name == "source" and ipaddress.ip_address(src) not in ipaddress.ip_network(
                opt.value, strict=False):
            return False
        if opt.name == "protocol" and opt.value != proto:
            return False
        if opt.name == "out-interface" and opt.value != out_iface:
            return False
    for match in rule.matches:
        for opt in match.options:
            if opt.name == "dport" and int(opt.value) != dport:
                return False
            if opt.name == "ctstate" and "NEW" not in opt.value.split(","):
                return False
    return True
