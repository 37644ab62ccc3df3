"""API routes: one router for every app's resources, plus the OpenAPI schema and docs."""

from django.contrib.auth.decorators import login_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from webapp.analysis.api.matrix import ServiceMatrixView
from webapp.analysis.api.views import (
    ConvergenceView,
    CostView,
    DriftView,
    ExplainView,
    GraphView,
)
from webapp.analysis.api.whatif import FixView, WhatIfView
from webapp.api.views import ApiRootView, not_found
from webapp.audit.api.views import AuditEventViewSet, AuditExportView
from webapp.flows.api import urls as flows_urls
from webapp.flows.api.views import FlowRecordViewSet
from webapp.inventory.api import urls as inventory_urls
from webapp.inventory.api.views import (
    AgentTokenViewSet,
    HostViewSet,
    SegmentViewSet,
    WorkloadViewSet,
)
from webapp.policy.api.views import IntentVersionViewSet
from webapp.rules.api import urls as rules_urls
from webapp.rules.api.views import (
    ParsedRuleViewSet,
    ParsedSetViewSet,
    RejectedUploadViewSet,
    SnapshotViewSet,
)


class ApiRouter(DefaultRouter):
    """Default router whose root also links the schema and docs."""

    APIRootView = ApiRootView


app_name = "api"

router = ApiRouter()
router.register("hosts", HostViewSet)
router.register("agent-tokens", AgentTokenViewSet)
router.register("workloads", WorkloadViewSet)
router.register("segments", SegmentViewSet)
router.register("snapshots", SnapshotViewSet)
router.register("rules", ParsedRuleViewSet)
router.register("sets", ParsedSetViewSet)
router.register("rejected-uploads", RejectedUploadViewSet)
router.register("flows", FlowRecordViewSet)
router.register("intents", IntentVersionViewSet)
router.register("audit-log", AuditEventViewSet)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs are HTML pages: send anonymous browsers to the login form rather than a 403.
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "redoc/",
        login_required(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
    # Agent ingest and inventory import: plain views beside the router's resources.
    *rules_urls.urlpatterns,
    *flows_urls.urlpatterns,
    *inventory_urls.urlpatterns,
    path("explain/", ExplainView.as_view(), name="explain"),
    path("graph/", GraphView.as_view(), name="graph"),
    path("drift/", DriftView.as_view(), name="drift"),
    path("convergence/", ConvergenceView.as_view(), name="convergence"),
    path("cost/", CostView.as_view(), name="cost"),
    path("audit-export/", AuditExportView.as_view(), name="audit-export"),
    path("service-matrix/", ServiceMatrixView.as_view(), name="service-matrix"),
    path("whatif/", WhatIfView.as_view(), name="whatif"),
    path("fix/", FixView.as_view(), name="fix"),
    *router.urls,
    # Last: API clients get JSON, not Django's HTML page; paths without the final slash are
    # left unmatched so that APPEND_SLASH still redirects them.
    re_path(r"^.*/$", not_found),
]
