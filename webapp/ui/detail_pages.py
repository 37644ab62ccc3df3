"""The detail pages: a segment, a workload, a host, and the cost of segmentation. Each list
on them is filtered and paged by URL parameters and exported with `?export=LIST&format=csv`
or `json`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from webapp.analysis.results import cost_report
from webapp.engine import cost_figures
from webapp.inventory.models import Host
from webapp.inventory.models import Workload as WorkloadRow
from webapp.ui import entities, host_detail
from webapp.ui.dashboard import host_state
from webapp.ui.flow_links import with_explain_links
from webapp.ui.links import host_url
from webapp.ui.lists import Column, Section, exported
from webapp.ui.pages import JsonDataView


class SectionsView(LoginRequiredMixin, TemplateView):
    """A page made of lists; `sections` names them, in page order."""

    def make_sections(self) -> list[Section]:
        raise NotImplementedError

    def sections(self) -> list[Section]:
        if not hasattr(self, "_sections"):
            self._sections = self.make_sections()
        return self._sections

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = exported(self.sections(), request.GET)
        return response if response is not None else super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        shown = [s.show(self.request.GET) for s in self.sections()]
        return super().get_context_data(sections={s.key: s for s in shown},
                                        section_list=shown, **kwargs)


class SegmentView(SectionsView):
    """A segment: its members and their hosts, edges in and out, drift, recent flows."""

    template_name = "ui/segment.html"

    def make_sections(self) -> list[Section]:
        name = self.kwargs["name"]
        members = entities.segment_members(name)
        if name not in members.selectors:
            raise Http404(f"no segment {name!r} in the newest intent")
        return [entities.member_section(members), entities.host_section(members),
                *entities.edge_sections(members), entities.drift_section(members, name),
                entities.flow_section(members)]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(segment=self.kwargs["name"], **kwargs)


class WorkloadView(SectionsView):
    """A workload: where it runs, its segments, edges in and out, drift, recent flows."""

    template_name = "ui/workload.html"

    def make_sections(self) -> list[Section]:
        self.rows = list(WorkloadRow.objects.filter(name=self.kwargs["name"])
                         .select_related("host").order_by("-started_at", "-id"))
        if not self.rows:
            raise Http404(f"no workload {self.kwargs['name']!r}")
        self.members = entities.workload_members(self.kwargs["name"])
        return [*entities.edge_sections(self.members), entities.drift_section(self.members),
                entities.flow_section(self.members)]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        self.sections()
        return super().get_context_data(
            workload=self.rows[0], lifetimes=self.rows,
            segments=self.members.segments(self.rows[0].name), **kwargs)


class HostView(SectionsView):
    """One host: its workloads, the rule tables of its latest snapshot as `iptables -L -v`
    lists them with the counters' change since the previous one, nft chains, sets, drift,
    snapshot history with diffs, convergence history and recent flows."""

    template_name = "ui/host.html"

    def host(self) -> Host:
        if not hasattr(self, "_host"):
            self._host = get_object_or_404(Host, name=self.kwargs["name"])
        return self._host

    def make_sections(self) -> list[Section]:
        host = self.host()
        members = entities.Members(frozenset(), {}, {})
        return [host_detail.set_section(host_detail.snapshots_of(host)),
                entities.drift_section(members, host=host.name),
                host_detail.history_section(host), host_detail.convergence_section(host)]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        host = self.host()
        pair = host_detail.snapshots_of(host)
        return super().get_context_data(
            host=host, snapshot=pair.newest, previous=pair.previous,
            chains=host_detail.listing(pair), nft=host_detail.nft_chains(pair.newest),
            convergence=host_state(host),
            workloads=host.workloads.order_by("stopped_at", "name"),
            flows=with_explain_links(host.flow_records.select_related("host")[:50]), **kwargs)


def cost_data() -> dict[str, Any]:
    """The cost report with the page's figures."""
    report = cost_report()
    hosts = cost_figures.newest_per_host(report)
    return {"summary": cost_figures.summary(report, hosts), "hosts": hosts,
            "fleet": report["fleet"],
            "figures": {"distribution": cost_figures.distribution_figure(hosts),
                        "history": cost_figures.history_figure(report["fleet"]),
                        "traversed": cost_figures.traversed_figure(hosts)}}


class CostView(SectionsView):
    """Rules and set members per host (distribution and over time), the flat-ACL
    equivalent and the rules traversed per verdict."""

    template_name = "ui/cost.html"

    def data(self) -> dict[str, Any]:
        if not hasattr(self, "_data"):
            self._data = cost_data()
        return self._data

    def make_sections(self) -> list[Section]:
        def rows() -> list[dict[str, Any]]:
            return [{**h, "host_href": host_url(h["host"]),
                     "flat_factor": round(h["flat_rules"] / h["rules"], 2) if h["rules"]
                     else None} for h in self.data()["hosts"]]
        return [Section("hosts", "Per host", [
            Column("host", "host", "host_href"), Column("at", "snapshot"),
            Column("rules", "rules", numeric=True),
            Column("set_members", "set members", numeric=True),
            Column("flat_rules", "rules as a flat ACL", numeric=True),
            Column("flat_factor", "flat / actual", numeric=True),
            Column("traversed_avg", "rules traversed, average", numeric=True),
            Column("traversed_max", "rules traversed, worst", numeric=True)], rows,
            empty="No host has sent a snapshot yet.")]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(summary=self.data()["summary"], **kwargs)


class CostDataView(JsonDataView):
    def data(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return cost_data()
