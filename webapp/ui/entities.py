"""What the segment and workload pages list: members, their hosts, the effective edges into
and out of them with the deciding rules, the drift findings naming them, and their recent
flows."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from webapp.analysis.models import DriftFinding, GraphEdge
from webapp.analysis.results import _segment_q, drift_findings
from webapp.engine.analysis.fleet import Workload
from webapp.engine.analysis.ports import PortSet
from webapp.flows.models import FlowRecord
from webapp.ui.flow_links import with_explain_links
from webapp.ui.links import host_url, workload_url
from webapp.ui.lists import Column, Section, moment_text
from webapp.ui.segment_graph import Membership, intended_segment_ports, membership

FLOW_WINDOW = timedelta(hours=24)
FLOW_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Members:
    """Running workloads a page is about, with the segments of every running workload."""

    names: frozenset[str]
    workloads: Mapping[str, Workload]  # every running workload, by name
    selectors: Mapping[str, Mapping[str, str]]
    intended: Mapping[tuple[str, str], PortSet] = field(default_factory=dict)  # segment pairs
    of: Mapping[str, list[str]] = field(default_factory=dict)  # workload -> its segments

    def segments(self, name: str) -> list[str]:
        return list(self.of.get(name, ()))

    def not_intended(self, src: str, dst: str, allowed: PortSet) -> PortSet:
        """What a pair is allowed that no intended segment pair of theirs asks for."""
        wanted = PortSet()
        for a in self.segments(src):
            for b in self.segments(dst):
                wanted = wanted | self.intended.get((a, b), PortSet())
        return allowed - wanted

    @property
    def addresses(self) -> dict[str, str]:
        """Address -> running workload, for every running workload."""
        return {a: w.name for w in self.workloads.values() for a in w.addresses}


def segment_members(segment: str) -> Members:
    """The running workloads of a segment of the newest intent."""
    now = membership()
    return Members(frozenset(now.members.get(segment, [])),
                   {w.name: w for w in now.workloads}, now.selectors, _intended(now),
                   _segments_of(now))


def workload_members(name: str) -> Members:
    """One running workload (none when it has stopped)."""
    now = membership()
    by_name = {w.name: w for w in now.workloads}
    return Members(frozenset([name]) & by_name.keys(), by_name, now.selectors, _intended(now),
                   _segments_of(now))


def _segments_of(now: Membership) -> dict[str, list[str]]:
    """Each running workload's segments, read off the membership once per page (asking every
    selector for every row of a list would cost segments x rows)."""
    out: dict[str, list[str]] = {}
    for segment in sorted(now.members):
        for name in now.members[segment]:
            out.setdefault(name, []).append(segment)
    return out


def _intended(now: Membership) -> dict[tuple[str, str], PortSet]:
    return intended_segment_ports(now.intent, now.selectors, list(now.workloads))


def member_section(members: Members) -> Section:
    """The members with where they run, what they carry and their segments."""
    def rows() -> list[dict[str, Any]]:
        out = []
        for name in sorted(members.names):
            w = members.workloads[name]
            out.append({"name": name, "name_href": workload_url(name), "host": w.host,
                        "host_href": host_url(w.host), "addresses": " ".join(w.addresses),
                        "interface": w.interface, "attachment": w.attachment,
                        "labels": " ".join(f"{k}={v}" for k, v in sorted(w.labels.items())),
                        "segments": ", ".join(members.segments(name)),
                        "started": moment_text(w.started_at)})
        return out
    return Section("members", "Members", [
        Column("name", "workload", "name_href"), Column("host", "host", "host_href"),
        Column("addresses", "addresses"), Column("interface", "interface"),
        Column("attachment", "attachment"), Column("labels", "labels"),
        Column("segments", "segments"), Column("started", "started")], rows,
        empty="No running workload is in this segment.")


def host_section(members: Members) -> Section:
    """The hosts the members run on, with how many each."""
    def rows() -> list[dict[str, Any]]:
        by_host: dict[str, list[str]] = {}
        for name in sorted(members.names):
            by_host.setdefault(members.workloads[name].host, []).append(name)
        return [{"host": host, "host_href": host_url(host), "workloads": len(names),
                 "names": " ".join(names)} for host, names in sorted(by_host.items())]
    return Section("hosts", "Hosts", [
        Column("host", "host", "host_href"), Column("workloads", "workloads", numeric=True),
        Column("names", "which")], rows, empty="On no host.")


def edge_sections(members: Members) -> list[Section]:
    """Inbound (members are destinations) and outbound (members are sources) edges."""
    def rows(inbound: bool) -> list[dict[str, Any]]:
        field = "dst" if inbound else "src"
        edges = GraphEdge.objects.filter(**{f"{field}__in": sorted(members.names)}).order_by(
            "src", "dst").select_related("host")
        out = []
        for edge in edges:
            if edge.src == edge.dst:
                continue
            src_host = _host_of(members, edge.src) or edge.src_host
            dst_host = _host_of(members, edge.dst) or edge.host.name
            deciding = [e for e in edge.evidence if e.get("rule_number")]
            first = next((e for e in deciding if e.get("host") == dst_host),
                         deciding[0] if deciding else None)
            out.append({
                "src": edge.src, "src_href": workload_url(edge.src),
                "src_segments": ", ".join(members.segments(edge.src)),
                "src_host": src_host, "dst": edge.dst, "dst_href": workload_url(edge.dst),
                "dst_segments": ", ".join(members.segments(edge.dst)),
                "dst_host": dst_host, "allowed": " ".join(edge.allowed),
                "not_intended": " ".join(members.not_intended(
                    edge.src, edge.dst, PortSet.parse(edge.allowed)).texts()),
                "rules": "; ".join(_evidence_text(e) for e in edge.evidence),
                "rule_href": host_url(first["host"], first) if first else None})
        return out
    columns = [Column("src", "source", "src_href"), Column("src_segments", "source segments"),
               Column("src_host", "source host"), Column("dst", "destination", "dst_href"),
               Column("dst_segments", "destination segments"),
               Column("dst_host", "destination host"), Column("allowed", "allowed"),
               Column("not_intended", "not intended"),
               Column("rules", "deciding rules", "rule_href")]
    return [Section("inbound", "Inbound edges", columns, lambda: rows(True),
                    empty="No workload is allowed to reach these."),
            Section("outbound", "Outbound edges", columns, lambda: rows(False),
                    empty="These are allowed to reach no workload.")]


def _host_of(members: Members, name: str) -> str | None:
    workload = members.workloads.get(name)
    return workload.host if workload is not None else None


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    where = f"{evidence.get('host', '')} {evidence.get('hook', '')} {evidence.get('table', '')}"
    where += f" {evidence.get('chain', '')}"
    if evidence.get("rule_number"):
        where += f" #{evidence['rule_number']}"
    elif evidence.get("policy"):
        where += " policy"
    return f"{where} {evidence.get('verdict', '')}".strip()


def drift_section(members: Members, segment: str | None = None,
                  host: str | None = None) -> Section:
    """Findings naming a member (or, for a segment, the segment); for a host, its own."""
    def rows() -> list[dict[str, Any]]:
        return [drift_row(f) for f in naming(members.names, segment, host)]
    return Section("drift", "Drift", [
        Column("kind", "kind"), Column("host", "host", "host_href"),
        Column("rule", "rule", "rule_href"), Column("set", "set / address"),
        Column("segments", "segments"), Column("workloads", "workloads"),
        Column("ports", "ports"), Column("since", "since"), Column("note", "note")], rows,
        empty="No drift finding names these.")


def naming(names: Collection[str], segment: str | None,
           host: str | None) -> Iterable[DriftFinding]:
    """Stored findings of a host, or those naming one of `names` or `segment`."""
    if host is not None:
        return drift_findings(host=host)
    if connection.vendor != "postgresql":
        # SQLite (the demo) cannot ask JSON lists what they contain.
        return [f for f in drift_findings() if set(f.workloads) & set(names)
                or segment is not None and segment in _segments(f)]
    which = Q(pk__in=[])
    for name in names:
        which |= Q(workloads__contains=[name])
    if segment is not None:
        which |= _segment_q("src_segment", segment) | _segment_q("dst_segment", segment)
    return drift_findings().filter(which)


def _segments(finding: DriftFinding) -> list[str]:
    return (finding.src_segment or "").split(",") + (finding.dst_segment or "").split(",")


def drift_row(finding: DriftFinding) -> dict[str, Any]:
    """A finding as a row of a detail page's drift list, with its links."""
    rule = finding.rule or {}
    return {
        "kind": finding.kind, "host": finding.host_name,
        "host_href": host_url(finding.host_name) if finding.host_name else None,
        "rule": (f"{rule.get('table', '')} {rule.get('chain', '')} "
                 f"#{rule.get('rule_number', '')}" if rule else ""),
        "rule_href": host_url(finding.host_name, rule) if rule and finding.host_name else None,
        "set": " ".join(x for x in (finding.set_name, finding.address) if x),
        "segments": " → ".join(x for x in (finding.src_segment, finding.dst_segment) if x),
        "workloads": " ".join(finding.workloads), "ports": " ".join(finding.ports),
        "since": moment_text(finding.since), "note": finding.note}


def flow_section(members: Members) -> Section:
    """Flows from or to a member's addresses in the day up to the newest flow."""
    def rows() -> list[dict[str, Any]]:
        owned = [a for a, n in members.addresses.items() if n in members.names]
        if not owned:
            return []
        newest = FlowRecord.objects.aggregate(newest=Max("bucket_end"))["newest"]
        until = min(newest, timezone.now()) if newest is not None else timezone.now()
        flows = (FlowRecord.objects.select_related("host")
                 .filter(Q(src__in=owned) | Q(dst__in=owned), bucket_end__gt=until - FLOW_WINDOW)
                 [:FLOW_LIMIT])
        return [flow_row(f) for f in with_explain_links(flows)]
    return flow_list(rows)


def flow_list(rows: Callable[[], Iterable[Mapping[str, Any]]]) -> Section:
    """Flows as a list: time, host, source and destination (with their workloads), verdict,
    the rule the log names, and the explain link."""
    return Section("flows", "Recent flows", [
        Column("time", "time"), Column("host", "host", "host_href"),
        Column("src", "source", "src_href"), Column("dst", "destination", "dst_href"),
        Column("proto", "proto"), Column("packets", "packets", numeric=True),
        Column("verdict", "verdict"), Column("rule", "rule"),
        Column("explain", "", "explain_href")], rows,
        empty="No flow from or to these in the day up to the newest flow.")


def flow_row(flow: Any) -> dict[str, Any]:
    """A flow record given its links by `with_explain_links`."""
    src, dst = flow.src_workload, flow.dst_workload
    port = f":{flow.dport}" if flow.dport is not None else ""
    return {"time": moment_text(flow.bucket_start), "host": flow.host.name,
            "host_href": host_url(flow.host.name),
            "src": f"{src} ({flow.src})" if src else flow.src,
            "src_href": workload_url(src) if src else None,
            "dst": f"{dst} ({flow.dst}{port})" if dst else f"{flow.dst}{port}",
            "dst_href": workload_url(dst) if dst else None, "proto": flow.proto_name,
            "packets": flow.packets, "verdict": flow.verdict or "?",
            "rule": flow.rule_ref or "", "explain": "explain",
            "explain_href": reverse("ui:explain") + "?" + flow.explain_query}
