"""What an audit archive holds besides its manifest: the bundle of raw dumps the analyses read,
and the analyses at the archive's time as JSON (the `segscope` commands' shapes) and CSV."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.intent import format_moment
from webapp.engine.analysis.fleet import Fleet
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.audit.tables import (
    CONVERGENCE_COLUMNS,
    EDGE_COLUMNS,
    FINDING_COLUMNS,
    convergence_rows,
    edge_rows,
    finding_rows,
    render_csv,
)

BUNDLE_DIR = "bundle"
# The files computed from the bundle, which verification computes again.
DERIVED = ("graph.json", "graph-segments.json", "drift.json", "convergence.json", "intent.json",
           "edges.csv", "findings.csv", "convergence.csv")


def json_bytes(value: Any) -> bytes:
    """JSON as the `segscope` commands print it (indent 2, keys in contract order)."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def bundle_files(root: Path) -> dict[str, bytes]:
    """Every file of a bundle directory by its path in the archive (`bundle/...`)."""
    return {f"{BUNDLE_DIR}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def with_snapshots(graph: dict[str, Any], fleet: Fleet) -> dict[str, Any]:
    """The graph with each evidence entry naming the content hash of the snapshot its host's
    rules were read from (`snapshot`, as GraphEdge.snapshots and the ingest API give it)."""
    def stamped(evidence: Mapping[str, Any]) -> dict[str, Any]:
        state = fleet.hosts.get(str(evidence.get("host")))
        return {**evidence, "snapshot": state.snapshot_hash if state is not None else None}

    return {**graph, "edges": [{**edge, "evidence": [stamped(e) for e in edge["evidence"]]}
                               for edge in graph["edges"]]}


def intent_document(analysis: BundleAnalysis) -> dict[str, Any]:
    """The intent version in force at the archive's time, and every version published by
    then, each with the file it is in and the SHA-256 of its text."""
    def entry(version: Any) -> dict[str, Any]:
        published = version.published_at
        return {"version": version.version,
                "published_at": format_moment(published) if published.tzinfo else None,
                "file": f"{BUNDLE_DIR}/intent/{version.version}.yaml",
                "sha256": hashlib.sha256(version.text.encode("utf-8")).hexdigest()}

    current = analysis.intent_version
    return {"in_force": entry(current) if current is not None else None,
            "versions": [entry(v) for v in analysis.timeline.intents]}


def derived_files(bundle: Path, at: datetime) -> dict[str, bytes]:
    """The analyses of the bundle at `at`: graph (workload level, evidence with snapshot
    hashes; and segment level), drift, convergence, the intent version, and the CSV tables."""
    analysis = BundleAnalysis(bundle, at)
    graph = with_snapshots(analysis.graph_json("workload"), analysis.fleet)
    drift = analysis.drift_json()
    convergence = analysis.convergence_json()
    return {
        "graph.json": json_bytes(graph),
        "graph-segments.json": json_bytes(analysis.graph_json("segment")),
        "drift.json": json_bytes(drift),
        "convergence.json": json_bytes(convergence),
        "intent.json": json_bytes(intent_document(analysis)),
        "edges.csv": render_csv(EDGE_COLUMNS, edge_rows(graph["edges"])),
        "findings.csv": render_csv(FINDING_COLUMNS, finding_rows(drift["findings"])),
        "convergence.csv": render_csv(CONVERGENCE_COLUMNS,
                                      convergence_rows(convergence["generations"])),
    }
