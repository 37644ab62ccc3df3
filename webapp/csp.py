"""Content-Security-Policy on Segscope's pages: scripts only from this origin, so that a text
that slipped past escaping still could not run."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

# Pages served by libraries whose templates carry inline scripts (the API docs, the admin)
# keep their own rules.
EXEMPT = ("/api/docs/", "/api/redoc/", "/admin/")


def policy(host: str | None) -> str:
    """The policy of a page served to `host`: scripts, connections and frames from this origin
    only; inline styles allowed, as plotly sets them on what it draws."""
    # The live updates' websocket, on this host, whether or not behind TLS.
    sockets = f" ws://{host} wss://{host}" if host else ""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        f"connect-src 'self'{sockets}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header to every answer but the exempt pages'."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT) and "Content-Security-Policy" not in response:
            try:
                host: str | None = request.get_host()
            except DisallowedHost:  # answered 400 already
                host = None
            response["Content-Security-Policy"] = policy(host)
        return response
