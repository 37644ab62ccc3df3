"""ASGI entry point: Django over HTTP and the live updates over websockets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

# The app registry must be populated before anything below imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from webapp.bodylimit import BodySizeLimit  # noqa: E402
from webapp.live.routing import websocket_urlpatterns  # noqa: E402
from webapp.requestthreads import RequestThreads  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Bodies past the upload limit are refused as they arrive, not after Django buffered them.
        # Requests' synchronous code runs on threads kept for it, not started per request.
        "http": BodySizeLimit(RequestThreads(django_asgi_app),
                              settings.SEGSCOPE_MAX_UPLOAD_BYTES),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
