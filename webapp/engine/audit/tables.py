"""The audit archive's CSV files: graph edges with their evidence, drift findings and
convergence hosts, one row each, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

EDGE_COLUMNS = ("src", "dst", "allowed", "host", "snapshot", "hook", "verdict", "family",
                "table", "chain", "rule_number", "handle", "policy", "line", "text", "packets",
                "bytes", "ports", "note")
FINDING_COLUMNS = ("kind", "host", "family", "table", "chain", "rule_number", "handle", "line",
                   "set", "address", "src_segment", "dst_segment", "workloads", "ports", "since",
                   "note")
CONVERGENCE_COLUMNS = ("generation", "cause", "intent", "opened_at", "host", "converged_at",
                       "seconds")


def cell(value: Any) -> str:
    """A value as a CSV cell: lists joined by spaces, None empty, and text a spreadsheet would
    run as a formula quoted with a leading apostrophe."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = " ".join(str(v) for v in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def render_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A header and one line per row, `\\n` line ends, every cell through `cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def edge_rows(edges: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """One row per edge and evidence entry (an edge without evidence: one row without it)."""
    for edge in edges:
        pair = {"src": edge["src"], "dst": edge["dst"], "allowed": edge["allowed"]}
        for evidence in edge.get("evidence") or [{}]:
            yield {**evidence, **pair}


def finding_rows(findings: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """One row per finding, its rule's keys in columns of their own."""
    for finding in findings:
        yield {**(finding.get("rule") or {}), **finding}


def convergence_rows(generations: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """One row per generation and listed host."""
    for generation in generations:
        for host in generation["hosts"]:
            yield {**generation, **host}
