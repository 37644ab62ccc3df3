"""Websocket routes, mounted by webapp.asgi."""

from django.urls import URLPattern, URLResolver, path

from webapp.live.consumers import LiveConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/live/", LiveConsumer.as_asgi(), name="live"),
]
