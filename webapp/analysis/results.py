"""Reading analysis results in the CLI contract's shapes: stored ones for the newest state, or
computed by the engine for a point in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.db.models.functions import Collate

from webapp.analysis.models import DriftFinding, GenerationResult, GraphEdge
from webapp.analysis.timeline import (
    DatabaseAnalysis,
    engine_workload,
    load_database_timeline,
    parsed_intent,
)
from webapp.engine.analysis.edges import segment_edges_of
from webapp.engine.analysis.fleet import Workload
from webapp.engine.analysis.intended import memberships, segment_selectors
from webapp.engine.analysis.offline import BundleAnalysis
from webapp.engine.analysis.ports import PortSet
from webapp.inventory.models import Workload as WorkloadRow
from webapp.policy.models import IntentVersion


@dataclass(frozen=True, slots=True)
class GraphQuery:
    """Which edges to list: level, and optional segment, host, port and time."""

    level: str = "workload"
    segment: str | None = None
    host: str | None = None
    port: tuple[str, int | None] | None = None  # ("tcp", 5432), ("icmp", None)
    at: datetime | None = None


def parse_port(text: str) -> tuple[str, int | None]:
    """`tcp/5432` or `icmp`; raises ValueError."""
    proto, _, number = text.strip().lower().partition("/")
    if proto == "icmp" and not number:
        return proto, None
    if proto not in ("tcp", "udp", "sctp") or not number.isdecimal() or int(number) > 65535:
        raise ValueError(f"expected PROTO/PORT (tcp, udp or sctp) or icmp, got {text!r}")
    return proto, int(number)


def _binary(field: str) -> Any:
    """Order by code point, as the engine sorts names (PostgreSQL's collation would not)."""
    expression = Collate(F(field), "C") if connection.vendor == "postgresql" else F(field)
    return OrderBy(expression)


def graph_entries(query: GraphQuery) -> QuerySet[GraphEdge] | list[Any]:
    """Workload or segment edges, stored (newest state) or computed at `query.at`; a
    queryset of GraphEdge rows for stored workload edges, else a list of dicts."""
    if query.at is not None:
        return _graph_at(query)
    workloads, selectors = _newest_membership()
    if query.level == "segment":
        edges = [e.to_dict() for e in _stored_edges(None, None)]
        entries = segment_edges_of(edges, selectors, workloads)
        return _filter_segment_edges(entries, query)
    members = _members(query.segment, selectors, workloads)
    rows = _stored_edges(query.host, members)
    if query.port is None:
        return rows
    return [row for row in rows if _allows(row.allowed, query.port)]


def _stored_edges(host: str | None, members: list[str] | None) -> QuerySet[GraphEdge]:
    rows = GraphEdge.objects.all()
    if host is not None:
        rows = rows.filter(Q(host__name=host) | Q(src_host=host))
    if members is not None:
        rows = rows.filter(Q(src__in=members) | Q(dst__in=members))
    return rows.order_by(_binary("src"), _binary("dst"))


def _newest_membership() -> tuple[list[Workload], dict[str, Any]]:
    """The running workloads and the newest intent's segments, as the engine reads them."""
    rows = WorkloadRow.objects.filter(stopped_at__isnull=True).select_related("host")
    workloads = [engine_workload(w, w.host.name) for w in rows]
    newest = IntentVersion.objects.order_by("-published_at", "-version").first()
    intent = parsed_intent(newest) if newest is not None else None
    return workloads, segment_selectors(intent, workloads)


def _members(segment: str | None, selectors: dict[str, Any],
             workloads: list[Workload]) -> list[str] | None:
    if segment is None:
        return None
    return memberships(selectors, workloads).get(segment, [])


def _allows(allowed: list[str], port: tuple[str, int | None]) -> bool:
    return PortSet.parse(allowed).contains(*port)


def _graph_at(query: GraphQuery) -> list[dict[str, Any]]:
    analysis = BundleAnalysis(load_database_timeline(), query.at)
    entries = analysis.graph_json(query.level)["edges"]
    if query.level == "segment":
        return _filter_segment_edges(entries, query)
    fleet = analysis.fleet
    where = {w.name: w.host for w in fleet.workloads}
    members = _members(query.segment, analysis.selectors, list(fleet.workloads))
    return [e for e in entries
            if (query.host is None or query.host in (where.get(e["src"]), where.get(e["dst"])))
            and (members is None or e["src"] in members or e["dst"] in members)
            and (query.port is None or _allows(e["allowed"], query.port))]


def _filter_segment_edges(entries: list[dict[str, Any]],
                          query: GraphQuery) -> list[dict[str, Any]]:
    return [e for e in entries
            if (query.segment is None or query.segment in (e["src"], e["dst"]))
            and (query.host is None or any(ev["host"] == query.host for ev in e["evidence"]))
            and (query.port is None or _allows(e["allowed"], query.port))]


def drift_findings(kind: str | None = None, host: str | None = None,
                   segment: str | None = None) -> QuerySet[DriftFinding]:
    """Stored findings in the contract's order (kind, host, then the engine's order)."""
    rows = DriftFinding.objects.all()
    if kind is not None:
        rows = rows.filter(kind=kind)
    if host is not None:
        rows = rows.filter(host_name=host)
    if segment is not None:
        # A workload in several segments is named by all of them, joined by commas.
        rows = rows.filter(_segment_q("src_segment", segment) | _segment_q("dst_segment", segment))
    return rows.order_by("kind_rank", _binary("host_name"), "position")


def _segment_q(field: str, segment: str) -> Q:
    return (Q(**{field: segment}) | Q(**{f"{field}__startswith": f"{segment},"})
            | Q(**{f"{field}__endswith": f",{segment}"})
            | Q(**{f"{field}__contains": f",{segment},"}))


def generations() -> QuerySet[GenerationResult]:
    """Stored generations, oldest first, with their hosts."""
    return GenerationResult.objects.prefetch_related("hosts").order_by("number")


def cost_report(at: datetime | None = None, host: str | None = None) -> dict[str, Any]:
    """The cost of segmentation as `segscope cost --json` gives it, for the newest state or
    the fleet as it was at `at`; `host` keeps that host's entries only."""
    report = DatabaseCost(at).report()
    if host is not None:
        report = {**report, "hosts": [h for h in report["hosts"] if h["host"] == host]}
    return report


class DatabaseCost:
    """Cost over the stored history, computed by the engine the CLI runs."""

    def __init__(self, at: datetime | None) -> None:
        self.at = at

    def report(self) -> dict[str, Any]:
        return DatabaseAnalysis(load_database_timeline(), self.at).cost_json()
