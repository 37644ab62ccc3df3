"""The dashboard pages (overview, segment graph, convergence, drift) and the JSON their
scripts fetch when a live event says something changed."""

from __future__ import annotations

import csv
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.gzip import gzip_page
from django.views.generic import TemplateView

from webapp.analysis.models import DriftFinding
from webapp.analysis.results import drift_findings, parse_port
from webapp.engine.audit.tables import cell
from webapp.inventory.models import Host
from webapp.ui import dashboard, segment_graph

DRIFT_PAGE = 100


def _port(request: HttpRequest) -> tuple[str, int | None] | None:
    text = request.GET.get("port", "").strip()
    if not text:
        return None
    try:
        return parse_port(text)
    except ValueError as exc:
        raise Http404(str(exc)) from None


class JsonDataView(LoginRequiredMixin, View):
    """Page data: JSON for a logged-in browser, 403 (not a login redirect) otherwise."""

    raise_exception = True

    def data(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def get(self, request: HttpRequest, **kwargs: Any) -> JsonResponse:
        response = JsonResponse(self.data(request, **kwargs),
                                json_dumps_params={"separators": (",", ":")})
        response["Cache-Control"] = "no-store"
        return response


class OverviewView(LoginRequiredMixin, TemplateView):
    """Fleet size, convergence, drift by kind, recent drops and the cost, each a link."""

    template_name = "ui/overview.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(overview=dashboard.overview(),
                                        kinds=DriftFinding.Kind.values, **kwargs)


class OverviewDataView(JsonDataView):
    def data(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return dashboard.overview()


class SegmentGraphView(LoginRequiredMixin, TemplateView):
    """The segment network; its script draws the figure from the page data."""

    template_name = "ui/segment_graph.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(
            segments=sorted(segment_graph.membership().members),
            focus=self.request.GET.get("focus", ""), port=self.request.GET.get("port", ""),
            group=self.request.GET.get("group", ""), **kwargs)


# The graph of a large fleet is megabytes of JSON that compresses ten to one; it holds no
# secret for a compression oracle to find.
@method_decorator(gzip_page, name="dispatch")
class SegmentGraphDataView(JsonDataView):
    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
        response = HttpResponse(segment_graph.segment_graph_json(
            request.GET.get("focus") or None, _port(request), request.GET.get("group") or None),
            content_type="application/json")
        response["Cache-Control"] = "no-store"
        return response


class SegmentEdgeDataView(JsonDataView):
    def data(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        src, dst = request.GET.get("src", ""), request.GET.get("dst", "")
        if not src or not dst:
            raise Http404("src and dst name the segments")
        return dashboard.segment_edge_detail(src, dst, _port(request))


class ConvergenceView(LoginRequiredMixin, TemplateView):
    """One generation: hosts converged over time, time to converge, stragglers, drops."""

    template_name = "ui/convergence.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        number = self.request.GET.get("generation", "")
        data = dashboard.convergence(int(number) if number.isdecimal() else None)
        return super().get_context_data(data=data, **kwargs)


class ConvergenceDataView(JsonDataView):
    def data(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        number = request.GET.get("generation", "")
        return dashboard.convergence(int(number) if number.isdecimal() else None)


class HostStateDataView(JsonDataView):
    def data(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        return dashboard.host_state(get_object_or_404(Host, name=kwargs["name"]))


DRIFT_COLUMNS = ["kind", "host", "rule", "set", "address", "src_segment", "dst_segment",
                 "workloads", "ports", "since", "note"]


class DriftListView(LoginRequiredMixin, TemplateView):
    """Drift findings filtered by kind, host and segment (the URL carries the filters), a
    page at a time; `?format=csv` exports every finding the filters keep."""

    template_name = "ui/drift.html"

    def filters(self) -> dict[str, str]:
        return {key: self.request.GET.get(key, "").strip() for key in ("kind", "host", "segment")}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("format") == "csv":
            return self.csv()
        if request.GET.get("partial"):
            self.template_name = "ui/drift_table.html"
        return super().get(request, *args, **kwargs)

    def findings(self) -> Any:
        filters = {k: v or None for k, v in self.filters().items()}
        return drift_findings(**filters)

    def csv(self) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="drift.csv"'
        writer = csv.DictWriter(response, DRIFT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        # Cells a spreadsheet would run as formulas get a leading apostrophe, as in the audit
        # export.
        writer.writerows({k: cell(v) for k, v in row.items()}
                         for row in dashboard.drift_rows(self.findings().iterator()))
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        filters = self.filters()
        page = Paginator(self.findings(), DRIFT_PAGE).get_page(self.request.GET.get("page"))
        query = urlencode({k: v for k, v in filters.items() if v})
        return super().get_context_data(
            page=page, rows=dashboard.drift_rows(page.object_list), filters=filters,
            query=query, kinds=DriftFinding.Kind.values,
            hosts=Host.objects.order_by("name").values_list("name", flat=True), **kwargs)
