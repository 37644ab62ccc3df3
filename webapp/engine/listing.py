"""A host's iptables rules as `iptables -L -v -x -n --line-numbers` lists them, with each
rule's counter change since an earlier dump of the same host."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from collectors.iptables import Chain, Match, Option, Rule, Ruleset
from webapp.engine.analysis.managed import rule_body

# Match modules whose options iptables lists under the module's own name, and how.
_PORT_NAMES = {"dport": "dpt", "sport": "spt", "destination-port": "dpt", "source-port": "spt"}


@dataclass(frozen=True, slots=True)
class ListedRule:
    """One rule as a row of `iptables -L -v`: number, counters, the columns, the rest."""

    number: int
    line: int
    packets: int | None
    bytes: int | None
    target: str
    prot: str
    opt: str
    in_iface: str
    out_iface: str
    source: str
    destination: str
    extra: str
    text: str  # the rule as iptables-save writes it, counters left out
    packets_delta: int | None = None  # since the earlier dump; None: not in it
    bytes_delta: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "line": self.line, "packets": self.packets,
                "bytes": self.bytes, "target": self.target, "prot": self.prot,
                "opt": self.opt, "in": self.in_iface, "out": self.out_iface,
                "source": self.source, "destination": self.destination, "extra": self.extra,
                "text": self.text, "packets_delta": self.packets_delta,
                "bytes_delta": self.bytes_delta}


@dataclass(frozen=True, slots=True)
class ListedChain:
    """A chain's header line and its rules."""

    family: str  # ipv4 | ipv6
    table: str
    name: str
    header: str
    rules: tuple[ListedRule, ...]


def list_ruleset(ruleset: Ruleset, family: str,
                 before: Ruleset | None = None) -> Iterator[ListedChain]:
    """Every chain of every table, in dump order; counter changes against `before`."""
    earlier = _counters(before) if before is not None else None
    references = _references(ruleset)
    for table in ruleset.tables.values():
        seen: dict[tuple[str, str], int] = {}
        for chain in table.chains.values():
            rows = []
            for rule in chain.rules:
                body = rule_body(rule)
                nth = seen.get((chain.name, body), 0)
                seen[(chain.name, body)] = nth + 1
                then = None if earlier is None else earlier.get((table.name, chain.name, body,
                                                                 nth))
                rows.append(list_rule(rule, family, then))
            yield ListedChain(family, table.name, chain.name,
                              chain_header(chain, references.get((table.name, chain.name), 0)),
                              tuple(rows))


def chain_header(chain: Chain, references: int) -> str:
    """`Chain FORWARD (policy DROP 0 packets, 0 bytes)` or `Chain x (2 references)`."""
    if chain.policy and chain.policy != "-":
        return (f"Chain {chain.name} (policy {chain.policy} {chain.packets or 0} packets, "
                f"{chain.bytes or 0} bytes)")
    return f"Chain {chain.name} ({references} references)"


def list_rule(rule: Rule, family: str,
              then: tuple[int | None, int | None] | None = None) -> ListedRule:
    """One rule in `iptables -L -v -x -n` columns."""
    spec = rule.spec
    anywhere = "0.0.0.0/0" if family == "ipv4" else "::/0"
    extra = [_match_text(match) for match in spec.matches]
    extra.extend(_target_text(opt) for opt in spec.target_options)
    if spec.goto:
        extra.append(f"[goto] {spec.target}")
    packets_delta = bytes_delta = None
    if then is not None:
        packets_delta = _delta(rule.packets, then[0])
        bytes_delta = _delta(rule.bytes, then[1])
    return ListedRule(
        rule.number, rule.line, rule.packets, rule.bytes,
        "" if spec.goto else spec.target or "", _base(spec.base, "protocol", "all"),
        _fragment(spec.base), _base(spec.base, "in-interface", "*"),
        _base(spec.base, "out-interface", "*"), _address(spec.base, "source", anywhere),
        _address(spec.base, "destination", anywhere), " ".join(e for e in extra if e),
        rule_body(rule), packets_delta, bytes_delta)


def _delta(now: int | None, then: int | None) -> int | None:
    if now is None or then is None:
        return None
    return now - then


def _counters(ruleset: Ruleset) -> dict[tuple[str, str, str, int], tuple[int | None, int | None]]:
    """Counters by (table, chain, rule text, occurrence): a rule keeps its counters when
    others move around it."""
    out = {}
    for table in ruleset.tables.values():
        seen: dict[tuple[str, str], int] = {}
        for chain in table.chains.values():
            for rule in chain.rules:
                body = rule_body(rule)
                nth = seen.get((chain.name, body), 0)
                seen[(chain.name, body)] = nth + 1
                out[(table.name, chain.name, body, nth)] = (rule.packets, rule.bytes)
    return out


def _references(ruleset: Ruleset) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for table in ruleset.tables.values():
        for rule in (r for c in table.chains.values() for r in c.rules):
            target = rule.target
            if target:
                out[(table.name, target)] = out.get((table.name, target), 0) + 1
    return out


def _find(base: Iterable[Option], name: str) -> Option | None:
    return next((opt for opt in base if opt.name == name), None)


def _base(base: tuple[Option, ...], name: str, default: str) -> str:
    opt = _find(base, name)
    if opt is None:
        return default
    return ("!" if opt.negated else "") + opt.value


def _address(base: tuple[Option, ...], name: str, anywhere: str) -> str:
    opt = _find(base, name)
    if opt is None:
        return anywhere
    value = opt.value if "/" in opt.value or "," in opt.value else opt.value + (
        "/32" if ":" not in opt.value else "/128")
    return ("!" if opt.negated else "") + value


def _fragment(base: tuple[Option, ...]) -> str:
    opt = _find(base, "fragment")
    if opt is None:
        return "--"
    return "!f" if opt.negated else "-f"


def _match_text(match: Match) -> str:
    """A match as `iptables -L` words it, for the common modules; others as written."""
    if match.module == "comment":
        comment = match.option("comment")
        return f"/* {comment.value.strip(chr(34))} */" if comment is not None else ""
    words: list[str] = []
    if match.module in ("tcp", "udp", "sctp", "udplite"):
        words.append(match.module)
        for opt in match.options:
            short = _PORT_NAMES.get(opt.name)
            if short is not None:
                plural = "s" if ":" in opt.value else ""
                words.append(("!" if opt.negated else "") + f"{short}{plural}:{opt.value}")
            else:
                words.append(_option_words(opt))
        return " ".join(words)
    if match.module == "conntrack" or match.module == "state":
        for opt in match.options:
            name = "ctstate" if opt.name == "ctstate" else opt.name
            words.append(("! " if opt.negated else "") + f"{name} {opt.value}")
        return " ".join(words)
    if match.module == "set":
        for opt in match.options:
            if opt.name == "match-set":
                words.append(("! " if opt.negated else "") + f"match-set {opt.value}")
            else:
                words.append(_option_words(opt))
        return " ".join(words)
    if match.module == "multiport":
        for opt in match.options:
            words.append(("! " if opt.negated else "") + f"multiport {opt.name} {opt.value}")
        return " ".join(words)
    return " ".join([match.module, *(_option_words(opt) for opt in match.options)])


def _option_words(opt: Option) -> str:
    return ("! " if opt.negated else "") + f"{opt.name} {opt.value}".strip()


def _target_text(opt: Option) -> str:
    return ("! " if opt.negated else "") + f"{opt.name} {opt.value}".strip()
