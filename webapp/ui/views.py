"""Browser pages."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import TemplateView


class StartView(LoginRequiredMixin, TemplateView):
    """Landing page: what Segscope shows and where to go next."""

    template_name = "ui/start.html"
