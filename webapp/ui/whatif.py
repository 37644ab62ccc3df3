"""The what-if page (a change file in, the pairs, drift and flows it moves out) and the fix
page behind the "propose a fix" buttons of the explain and flows pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponseForbidden
from django.views.generic import FormView, TemplateView

from webapp.analysis.whatif import stored_fix, stored_whatif
from webapp.api.permissions import OPERATOR, has_role
from webapp.audit.services import record_event
from webapp.engine.analysis.changes import ChangeError
from webapp.inventory.models import Workload


class WhatIfForm(forms.Form):
    """A change file, one 'HOST: command' a line (docs/analysis.md)."""

    change = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 100}),
                             max_length=1_000_000)
    days = forms.FloatField(label="flows of the last N days", initial=7, min_value=0)


class WhatIfView(LoginRequiredMixin, FormView):
    """What a proposed change would open, close, fix and let through (operators)."""

    template_name = "ui/whatif.html"
    form_class = WhatIfForm

    def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not has_role(request.user, OPERATOR):
            return HttpResponseForbidden("what-if is for operators")
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs),
                "operator": has_role(self.request.user, OPERATOR)}

    def form_valid(self, form: WhatIfForm) -> Any:
        change = form.cleaned_data["change"]
        try:
            result = stored_whatif(change, None, form.cleaned_data["days"])
        except ChangeError as exc:
            form.add_error("change", str(exc))
            return self.form_invalid(form)
        record_event(self.request.user, "what-if", change=change,
                     opened=len(result["opened"]), closed=len(result["closed"]))
        return self.render_to_response(self.get_context_data(form=form, result=result))


def workload_named(text: str) -> str:
    """A running workload's name from its name or one of its addresses."""
    running = Workload.objects.filter(stopped_at__isnull=True)
    if running.filter(name=text).exists():
        return text
    found = running.filter(addresses__contains=[text]).values_list("name", flat=True).first()
    return found or text


class FixView(LoginRequiredMixin, TemplateView):
    """The rules that block a flow and the candidate changes, ranked by exposure."""

    template_name = "ui/fix.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        query = self.request.GET
        src, dst = workload_named(query.get("src", "")), workload_named(query.get("dst", ""))
        proto = query.get("proto", "tcp")
        dport_text = query.get("dport", "")
        context.update(src=src, dst=dst, proto=proto, dport=dport_text)
        try:
            dport = int(dport_text) if dport_text else None
            context["result"] = stored_fix(src, dst, proto, dport)
        except ValueError as exc:
            context["error"] = str(exc)
        return context
