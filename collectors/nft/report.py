"""A per-file account of an nft dump: what it declares, and what Segscope did not model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.errors import ParseError
from collectors.nft.model import IP_FAMILIES, NftRuleset
from collectors.nft.parse import parse_nft_json

_IPTABLES_TABLES = frozenset({"filter", "nat", "mangle", "raw", "security"})
_IPTABLES_CHAINS = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})


def iptables_nft_tables(ruleset: NftRuleset) -> list[tuple[str, str]]:
    """Tables that look made by iptables-nft (ip/ip6 `filter`, `nat`, ... with upper-case
    built-in base chains): an `iptables-save` of the same host lists them a second time."""
    found = []
    for (family, name), table in ruleset.tables.items():
        base = [c for c in table.chains.values() if c.is_base]
        if (family in ("ip", "ip6") and name in _IPTABLES_TABLES and base
                and all(c.name in _IPTABLES_CHAINS for c in base)):
            found.append((family, name))
    return found


@dataclass(frozen=True, slots=True)
class NftReport:
    """Counts and findings for one nft dump."""

    filename: str
    tables: dict[str, int] = field(default_factory=dict)  # by family
    chains: int = 0
    base_chains: int = 0
    rules: int = 0
    sets: int = 0
    maps: int = 0
    objects: int = 0
    unmodelled: dict[str, int] = field(default_factory=dict)  # by kind
    not_on_ip_hooks: tuple[str, ...] = ()
    iptables_nft: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.filename, "error": self.error, "tables": self.tables,
                "chains": self.chains, "base_chains": self.base_chains, "rules": self.rules,
                "sets": self.sets, "maps": self.maps, "objects": self.objects,
                "unmodelled": self.unmodelled, "not_on_ip_hooks": list(self.not_on_ip_hooks),
                "iptables_nft": list(self.iptables_nft), "warnings": list(self.warnings)}

    def __str__(self) -> str:
        if self.error:
            return f"{self.filename}: ERROR {self.error}"
        tables = ", ".join(f"{n} {f}" for f, n in sorted(self.tables.items())) or "no tables"
        text = (f"{self.filename}: {tables}; {self.chains} chains ({self.base_chains} base), "
                f"{self.rules} rules, {self.sets} sets, {self.maps} maps, {self.objects} objects")
        if self.unmodelled:
            kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.unmodelled.items()))
            text += f"; not modelled: {kinds}"
        if self.not_on_ip_hooks:
            text += f"; not on IP hooks: {', '.join(self.not_on_ip_hooks)}"
        return text


def report_ruleset(ruleset: NftRuleset) -> NftReport:
    """The counts and findings of a parsed dump."""
    families: Counter[str] = Counter(family for family, _ in ruleset.tables)
    chains = list(ruleset.chains())
    sets = [s for t in ruleset.tables.values() for s in t.sets.values()]
    off_path = tuple(f"{c.family} {c.table} {c.name} (hook {c.hook})" for c in chains
                     if c.is_base and c.family not in IP_FAMILIES)
    return NftReport(
        ruleset.filename, dict(families), len(chains), sum(1 for c in chains if c.is_base),
        ruleset.rule_count, sum(1 for s in sets if not s.is_map), sum(1 for s in sets if s.is_map),
        sum(len(t.objects) for t in ruleset.tables.values()),
        dict(Counter(u.kind for u in ruleset.unmodelled)), off_path,
        tuple(f"{f} {n}" for f, n in iptables_nft_tables(ruleset)),
        tuple(str(w) for w in ruleset.warnings))


def nft_report(text: str, filename: str = "<input>") -> dict[str, Any]:
    """Parse `nft -j list ruleset` text and report on it as a dict; malformed JSON raises
    ParseError."""
    return report_ruleset(parse_nft_json(text, filename)).to_dict()


def report_nft_file(path: str | Path) -> NftReport:
    """Parse one file and report on it; a malformed file gives a report with its error."""
    path = Path(path)
    try:
        ruleset = parse_nft_json(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except ParseError as exc:
        return NftReport(str(path), error=str(exc))
    return report_ruleset(ruleset)
