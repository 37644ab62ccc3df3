"""What the dashboard pages show, read from the stored analysis results: the overview's
numbers, one segment edge's workload pairs and deciding rules, a generation's convergence, and
a host's convergence state (the segment graph is in `webapp.ui.segment_graph`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from webapp.analysis.models import AnalysisState, DriftFinding, GenerationResult, GraphEdge
from webapp.analysis.results import cost_report
from webapp.engine.analysis.ports import PortSet
from webapp.engine.figures import convergence_figure, time_to_converge_figure
from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host
from webapp.inventory.models import Workload as WorkloadRow
from webapp.ui.links import host_url
from webapp.ui.segment_graph import intended_segment_ports, membership

DROP_WINDOW = timedelta(minutes=15)


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def drop_window() -> tuple[datetime, datetime]:
    """The last 15 minutes: up to now for a live fleet, up to the newest flow for a recorded
    one (a bundle's flows end when it was recorded)."""
    newest = FlowRecord.objects.aggregate(newest=Max("bucket_end"))["newest"]
    until = min(newest, timezone.now()) if newest is not None else timezone.now()
    return until - DROP_WINDOW, until


def overview() -> dict[str, Any]:
    """The fleet's numbers, each with the list behind it."""
    newest = GenerationResult.objects.order_by("-number").first()
    since, until = drop_window()
    drift = dict(DriftFinding.objects.values_list("kind").annotate(n=Count("id")).order_by())
    cost = cost_report()
    fleet_cost = cost["fleet"][-1] if cost["fleet"] else None
    hosts = Host.objects.count()
    return {
        "hosts": hosts,
        "workloads": WorkloadRow.objects.filter(stopped_at__isnull=True).count(),
        "generation": None if newest is None else {
            "number": newest.number, "cause": newest.cause, "converged": newest.converged,
            "listed": newest.listed, "stragglers": list(newest.stragglers)},
        "drift": {kind: drift.get(kind, 0) for kind in DriftFinding.Kind.values},
        "drops": {"since": _iso(since), "until": _iso(until), "records": FlowRecord.objects.filter(
            verdict__in=("DROP", "REJECT"), bucket_end__gt=since, bucket_start__lte=until)
            .aggregate(n=Coalesce(Sum("records"), 0))["n"]},
        "cost": None if fleet_cost is None else {
            "at": fleet_cost["at"], "rules": fleet_cost["rules"],
            "set_members": fleet_cost["set_members"], "flat_rules": fleet_cost["flat_rules"],
            "rules_per_host": round(fleet_cost["rules"] / hosts, 1) if hosts else 0,
            "changes_per_second": cost["activation"]["per_second"]},
    }


def segment_edge_detail(src: str, dst: str,
                        port: tuple[str, int | None] | None = None) -> dict[str, Any]:
    """The workload pairs between two segments that are allowed something, with the ports,
    and per host the rules that decide them."""
    member = membership()
    workloads, intent, selectors = list(member.workloads), member.intent, member.selectors
    sources, destinations = member.members.get(src, []), member.members.get(dst, [])
    where = {w.name: w.host for w in workloads}
    rows = GraphEdge.objects.filter(src__in=sources, dst__in=destinations).order_by("src", "dst")
    pairs = []
    rules: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for row in rows:
        if row.src == row.dst or (port is not None
                                  and not PortSet.parse(row.allowed).contains(*port)):
            continue
        pairs.append({"src": row.src, "src_host": where.get(row.src, row.src_host),
                      "dst": row.dst, "dst_host": where.get(row.dst, ""),
                      "allowed": list(row.allowed)})
        for evidence in row.evidence:
            key = tuple(sorted((k, str(v)) for k, v in evidence.items() if k != "ports"))
            entry = rules.setdefault(evidence["host"], {}).setdefault(
                key, {**{k: v for k, v in evidence.items() if k != "ports"}, "pairs": 0})
            entry["pairs"] += 1
    intended = intended_segment_ports(intent, selectors, workloads).get((src, dst), PortSet())
    return {
        "src": src, "dst": dst, "intended": intended.texts(), "pairs": pairs,
        "pairs_total": len(sources) * len(destinations) - len(set(sources) & set(destinations)),
        "hosts": [{"host": host, "rules": sorted(entries.values(), key=_rule_order)}
                  for host, entries in sorted(rules.items())],
    }


def _rule_order(rule: Mapping[str, Any]) -> tuple[Any, ...]:
    return (rule.get("hook", ""), rule.get("table", ""), rule.get("chain", ""),
            rule.get("rule_number") or 0)


def convergence(number: int | None = None) -> dict[str, Any]:
    """One generation (the newest by default) as the convergence contract states it, its
    figures, and the list of generations to pick from."""
    rows = list(GenerationResult.objects.order_by("number").values_list("number", "cause",
                                                                         "converged", "listed"))
    choices = [{"number": n, "cause": c, "converged": k, "listed": m} for n, c, k, m in rows]
    query = GenerationResult.objects.prefetch_related("hosts")
    row = (query.filter(number=number).first() if number is not None
           else query.order_by("-number").first())
    if row is None:
        return {"generations": choices, "generation": None}
    generation = row.to_dict()
    host_ids = dict(Host.objects.filter(name__in=[h["host"] for h in generation["hosts"]])
                    .values_list("name", "id"))
    return {"generations": choices, "generation": generation, "host_ids": host_ids,
            "figure": convergence_figure(generation),
            "distribution": time_to_converge_figure(generation)}


def host_state(host: Host) -> dict[str, Any]:
    """A host's place in the newest generation (converged, when, or straggling) and the
    progress of its analysis."""
    newest = GenerationResult.objects.order_by("-number").first()
    entry = None if newest is None else newest.hosts.filter(host_name=host.name).first()
    analysis = AnalysisState.objects.filter(host=host).first()
    if newest is None or entry is None:
        state, label = "unknown", "not in a generation yet"
    elif entry.converged_at is not None:
        state = "converged"
        label = f"converged in generation {newest.number} at {_iso(entry.converged_at)}"
    else:
        state, label = "pending", f"not converged to generation {newest.number} yet"
    return {
        "host": host.pk, "name": host.name, "state": state, "label": label,
        "generation": newest.number if newest is not None else None,
        "converged_at": _iso(entry.converged_at) if entry is not None else None,
        "analysis": None if analysis is None else {
            "status": analysis.status, "done": analysis.done, "total": analysis.total},
    }


def drift_rows(findings: Iterable[DriftFinding]) -> list[dict[str, Any]]:
    """Findings as flat rows, for the page and the CSV export."""
    out = []
    for finding in findings:
        rule = finding.rule or {}
        rule_text = (f"{rule.get('table', '')} {rule.get('chain', '')} rule "
                     f"{rule.get('rule_number', '')}".strip() if rule else "")
        out.append({"kind": finding.kind, "host": finding.host_name, "rule": rule_text,
                    "rule_chain": rule.get("chain", ""), "set": finding.set_name or "",
                    "address": finding.address or "", "src_segment": finding.src_segment or "",
                    "dst_segment": finding.dst_segment or "",
                    "workloads": " ".join(finding.workloads), "ports": " ".join(finding.ports),
                    "since": _iso(finding.since) or "", "note": finding.note,
                    # What the page links: the rule's row on its host's page, the segment and
                    # workload pages.
                    "rule_href": host_url(finding.host_name, rule) if finding.host_name else "",
                    "src_segments": _names(finding.src_segment),
                    "dst_segments": _names(finding.dst_segment),
                    "workload_list": list(finding.workloads)})
    return out


def _names(joined: str | None) -> list[str]:
    return [name for name in (joined or "").split(",") if name]
