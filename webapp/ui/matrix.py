"""The service matrix page: a form and the classes and edges it answers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import FormView

from collectors.errors import ParseError
from webapp.analysis.matrix import snapshot_service_matrix
from webapp.analysis.services import NoSnapshot
from webapp.engine.matrix.service import CHAINS, DEFAULT_SPORT, MatrixRequest
from webapp.engine.values import ValueParseError
from webapp.inventory.models import Host


class ServiceMatrixForm(forms.Form):
    """A host's chain, protocol and port, and an optional interface assumption."""

    host = forms.ModelChoiceField(Host.objects.order_by("name"), to_field_name="name")
    table = forms.CharField(initial="filter")
    chain = forms.ChoiceField(choices=[(c, c) for c in CHAINS], initial="INPUT")
    proto = forms.ChoiceField(choices=[(p, p) for p in ("tcp", "udp")])
    dport = forms.IntegerField(label="destination port", min_value=0, max_value=65535)
    sport = forms.IntegerField(label="source port", min_value=0, max_value=65535,
                               initial=DEFAULT_SPORT)
    ipassmt = forms.CharField(label="interface assumption (fffuu's --ipassmt)", required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))


class ServiceMatrixView(LoginRequiredMixin, FormView):
    """Which address classes may open a connection to which, for one chain and port."""

    template_name = "ui/service_matrix.html"
    form_class = ServiceMatrixForm

    def form_valid(self, form: ServiceMatrixForm) -> Any:
        data = form.cleaned_data
        ask = MatrixRequest(data["chain"], data["proto"], data["dport"], data["sport"],
                            data["table"], data["ipassmt"] or None)
        try:
            matrix = snapshot_service_matrix(data["host"], ask)
        except (NoSnapshot, ParseError, ValueParseError, ValueError) as exc:
            form.add_error(None, str(exc))
            return self.form_invalid(form)
        names = [c.name for c in matrix.classes]
        edges = set(matrix.edges)
        rows = [(source, [(target, (source, target) in edges) for target in names])
                for source in names]
        return self.render_to_response(self.get_context_data(
            form=form, matrix=matrix, rows=rows, names=names))
