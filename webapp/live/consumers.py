"""The websocket a page opens to hear what changed: logged-in users only."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from webapp.live.broadcast import GROUP_PATTERN

MAX_GROUPS = 32


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Joins the groups a page asks for (`?groups=fleet,host-12` or `{"subscribe": "host-12"}`)
    and forwards their events; leaves every group on disconnect."""

    groups_joined: set[str]

    async def connect(self) -> None:
        self.groups_joined = set()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)  # before accept: the handshake is refused (403)
            return
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        for value in query.get("groups", []):
            for group in value.split(","):
                await self._join(group.strip())

    async def disconnect(self, code: int) -> None:
        for group in sorted(self.groups_joined):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = set()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if isinstance(content.get("subscribe"), str):
            await self._join(content["subscribe"])
        if isinstance(content.get("unsubscribe"), str):
            await self._leave(content["unsubscribe"])

    async def live_event(self, message: dict[str, Any]) -> None:
        """An event sent to one of this socket's groups: forward it as it is."""
        await self.send_json(message["event"])

    async def _join(self, group: str) -> None:
        if (GROUP_PATTERN.match(group) and group not in self.groups_joined
                and len(self.groups_joined) < MAX_GROUPS):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)
            await self.send_json({"type": "subscribed", "group": group})

    async def _leave(self, group: str) -> None:
        if group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
