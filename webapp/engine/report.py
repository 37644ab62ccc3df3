"""Per-file report on dumps: what was read, what is not modelled, what failed and where."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from collectors.errors import ParseError
from collectors.iptables import parse_iptables_save
from webapp.engine.iptables.compile import compile_ruleset
from webapp.engine.values import ValueParseError

# Files beside dumps that are documentation, not input.
SKIPPED_SUFFIXES = (".md", ".tsv", ".txt.license", ".proto")
SKIPPED_NAMES = {"LICENSE", "COPYING", "README", "SOURCES"}


def detect_kind(text: str) -> str:
    """iptables-save, ipset, nft-json or unknown, judged from content rather than file name."""
    head = text.lstrip()[:4096]
    if head.startswith("{") and '"nftables"' in head:
        return "nft-json"
    lines = [line.strip() for line in text.splitlines()]
    if any(line.startswith(("*filter", "*nat", "*mangle", "*raw", "*security")) for line in lines):
        return "iptables-save"
    if any(line.startswith(("create ", "add ", "Name: ", "-N ", "-A ")) for line in lines[:200]):
        return "ipset" if not any(line.startswith(":") for line in lines) else "iptables-save"
    return "unknown"


def report_text(text: str, filename: str) -> dict[str, Any]:
    """Parse one dump of any supported kind and summarise it; errors are reported, not raised."""
    kind = detect_kind(text)
    entry: dict[str, Any] = {"file": filename, "kind": kind, "error": None}
    try:
        if kind == "iptables-save":
            ruleset = parse_iptables_save(text, filename).check()
            compiled = compile_ruleset(ruleset)
            entry.update(tables=len(ruleset.tables), chains=ruleset.chain_count,
                         rules=ruleset.rule_count, family=compiled.family,
                         unmodelled=dict(sorted(compiled.unmodelled.items())),
                         warnings=[str(w) for w in ruleset.warnings])
        elif kind == "ipset":
            from collectors.ipset import parse_ipset_save

            dump = parse_ipset_save(text, filename)
            entry.update(sets=len(dump.sets),
                         members=sum(len(s.members) for s in dump.sets.values()),
                         warnings=[str(w) for w in dump.warnings])
        elif kind == "nft-json":
            from collectors.nft import nft_report

            entry.update(nft_report(text, filename))
        else:
            entry["error"] = "not a dump Segscope reads (iptables-save, ipset save, nft -j)"
    except (ParseError, ValueParseError, ValueError) as exc:
        entry["error"] = str(exc)
    return entry


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def report_paths(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Report every file under the given paths, skipping documentation and licences."""
    for path in _files(paths):
        if path.name.upper().split(".")[0] in SKIPPED_NAMES or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        yield report_text(path.read_text(encoding="utf-8", errors="replace"), str(path))
