"""Browser pages: the fleet, recent flows, and explain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.generic import FormView, ListView, TemplateView

from webapp.analysis.services import NoSnapshot, explain_flow
from webapp.engine.packet import CT_STATES, HOOKS, Packet
from webapp.engine.values import ValueParseError
from webapp.flows.models import FlowRecord
from webapp.inventory.models import Host, Workload
from webapp.ui.entities import flow_list, flow_row
from webapp.ui.flow_links import with_explain_links
from webapp.ui.links import decision_url


class StartView(LoginRequiredMixin, TemplateView):
    """The fleet at a glance: hosts, workloads, latest snapshots and recent drops."""

    template_name = "ui/start.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # The day up to the newest flow: for a live fleet that is the last 24 hours; for a
        # recorded bundle (the demo) it is the day the bundle holds.
        newest = FlowRecord.objects.aggregate(newest=Max("bucket_start"))["newest"]
        until = min(newest, timezone.now()) if newest is not None else timezone.now()
        since = until - timedelta(hours=24)
        # The raw dumps of each latest snapshot are hundreds of kilobytes the page never shows.
        hosts = (Host.objects.select_related("last_snapshot").defer("last_snapshot__dumps")
                 .annotate(active_workloads=Count("workloads",
                                                  filter=Q(workloads__stopped_at__isnull=True)))
                 .order_by("name"))
        return super().get_context_data(
            hosts=hosts,
            workload_count=Workload.objects.filter(stopped_at__isnull=True).count(),
            drops=with_explain_links(
                FlowRecord.objects.select_related("host").filter(verdict="DROP")[:10]),
            drop_count=FlowRecord.objects.filter(verdict="DROP", bucket_start__gt=since)
            .aggregate(records=Coalesce(Sum("records"), 0))["records"],
            drops_until=until,
            **kwargs)


EXPORT_LIMIT = 100_000  # flows in one export, newest first


class FlowListView(LoginRequiredMixin, ListView):
    """Recent flows of the fleet, newest first, filtered by verdict, host and time (the URL
    carries the filters); `?format=csv` or `json` exports what the filters keep."""

    template_name = "ui/flows.html"
    paginate_by = 100
    context_object_name = "flows"

    def get_queryset(self) -> Any:
        flows = FlowRecord.objects.select_related("host")
        verdict = self.request.GET.get("verdict")
        if verdict:
            flows = flows.filter(verdict=verdict.upper())
        host = self.request.GET.get("host")
        if host:
            flows = flows.filter(host__name=host)
        since = parse_datetime(self.request.GET.get("since", ""))
        if since is not None:
            flows = flows.filter(bucket_end__gt=since)
        return flows

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        fmt = request.GET.get("format")
        if fmt in ("csv", "json"):
            flows = self.get_queryset()[:EXPORT_LIMIT]
            return flow_list(lambda: [flow_row(f) for f in with_explain_links(flows)]).export(
                request.GET, fmt)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        filters = [(k, self.request.GET.get(k, "")) for k in ("verdict", "host", "since")]
        query = urlencode([(k, v) for k, v in filters if v])
        context = super().get_context_data(verdict=self.request.GET.get("verdict", ""),
                                           host=self.request.GET.get("host", ""),
                                           since=self.request.GET.get("since", ""),
                                           query=query, **kwargs)
        context["flows"] = with_explain_links(context["flows"])
        return context


class ExplainForm(forms.Form):
    """A flow to explain, as an on-call engineer describes it."""

    host = forms.ModelChoiceField(Host.objects.order_by("name"), to_field_name="name")
    hook = forms.ChoiceField(choices=[(h, h) for h in HOOKS], initial="FORWARD")
    src = forms.GenericIPAddressField(label="source")
    dst = forms.GenericIPAddressField(label="destination")
    proto = forms.ChoiceField(choices=[(p, p) for p in ("tcp", "udp", "icmp")])
    dport = forms.IntegerField(label="destination port", required=False, min_value=0,
                               max_value=65535)
    sport = forms.IntegerField(label="source port", required=False, min_value=0,
                               max_value=65535, initial=40000)
    in_iface = forms.CharField(label="in interface", required=False, max_length=15)
    out_iface = forms.CharField(label="out interface", required=False, max_length=15)
    ct_state = forms.ChoiceField(choices=[(s, s) for s in CT_STATES], initial="NEW")
    length = forms.IntegerField(label="IP length (bytes)", required=False, min_value=0,
                                max_value=65575)


class ExplainView(LoginRequiredMixin, FormView):
    """Why is this flow dropped (or allowed)? The deciding rule, its counters and the trace."""

    template_name = "ui/explain.html"
    form_class = ExplainForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        if self.request.method == "GET" and "src" in self.request.GET:
            kwargs["data"] = self.request.GET  # a shareable link explains straight away
        elif self.request.method == "GET":
            kwargs["initial"] = {**self.get_initial(), **self.request.GET.dict()}
        return kwargs

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        form = self.get_form()
        if form.is_bound:
            return self.form_valid(form) if form.is_valid() else self.form_invalid(form)
        return self.render_to_response(self.get_context_data(form=form))

    def form_valid(self, form: ExplainForm) -> Any:
        data = form.cleaned_data
        fields = {k: v for k, v in data.items()
                  if k not in ("host", "hook") and v not in (None, "")}
        try:
            result = explain_flow(data["host"], Packet(**fields), data["hook"])
        except (NoSnapshot, ValueParseError, ValueError) as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        decision = result.explanation.decided_by
        rule_href = None
        if decision is not None:
            family = "ipv6" if ":" in data["dst"] else "ipv4"
            rule_href = decision_url(data["host"].name, decision.to_dict(), family)
        return self.render_to_response(self.get_context_data(form=form, result=result,
                                                             rule_href=rule_href))
