"""The live websocket through the real ASGI application and the Redis channel layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from webapp.asgi import application
from webapp.live import broadcast
from webapp.live.broadcast import MESSAGE_TYPE, send_now

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL,
                       reason="needs the Redis channel layer (REDIS_URL), as `make test` sets it"),
]

ORIGIN = (b"origin", b"http://localhost")
QUIET = 0.3  # how long "nothing arrives" is watched for


@pytest.fixture
async def layer() -> AsyncIterator[object]:
    channel_layer = get_channel_layer()
    await channel_layer.flush()
    yield channel_layer
    await channel_layer.flush()


@pytest.fixture
def alice_cookie(alice: object) -> bytes:
    """The session cookie of alice's logged-in browser."""
    client = Client()
    client.force_login(alice)  # type: ignore[arg-type]
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def socket(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN, (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def joined(communicator: WebsocketCommunicator, *groups: str) -> None:
    for group in groups:
        assert await communicator.receive_json_from(timeout=5) == {
            "type": "subscribed", "group": group}


async def test_it_refuses_an_anonymous_browser(layer: object) -> None:
    communicator = socket("/ws/live/?groups=fleet")
    connected, _ = await communicator.connect()
    assert not connected


async def test_it_delivers_the_events_of_the_groups_a_page_asked_for(
        layer: object, alice_cookie: bytes) -> None:
    communicator = socket("/ws/live/?groups=fleet,host-12", alice_cookie)
    connected, _ = await communicator.connect()
    assert connected
    await joined(communicator, "fleet", "host-12")

    await asyncio.to_thread(send_now, {"type": "host.analysed", "host": 12}, ["host-12"])
    await asyncio.to_thread(send_now, {"type": "host.analysed", "host": 13}, ["host-13"])

    assert await communicator.receive_json_from(timeout=5) == {"type": "host.analysed", "host": 12}
    assert await communicator.receive_nothing(timeout=QUIET)
    await communicator.disconnect()


async def test_it_joins_a_group_on_a_subscribe_message(layer: object, alice_cookie: bytes) -> None:
    communicator = socket("/ws/live/", alice_cookie)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"subscribe": "generation-7"})
    await joined(communicator, "generation-7")

    await asyncio.to_thread(send_now, {"type": "generation.progress", "generation": 7,
                                       "converged": 812, "listed": 1000}, ["generation-7"])

    assert await communicator.receive_json_from(timeout=5) == {
        "type": "generation.progress", "generation": 7, "converged": 812, "listed": 1000}
    await communicator.disconnect()


async def test_it_ignores_groups_that_are_not_live_groups(
        layer: object, alice_cookie: bytes) -> None:
    communicator = socket("/ws/live/?groups=admin,host-x", alice_cookie)
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"subscribe": "../fleet"})
    assert await communicator.receive_nothing(timeout=QUIET)
    await communicator.disconnect()


async def test_it_leaves_its_groups_on_disconnect(layer: object, alice_cookie: bytes) -> None:
    first = socket("/ws/live/?groups=host-12", alice_cookie)
    assert (await first.connect())[0]
    await joined(first, "host-12")
    members = await group_members(layer, "host-12")
    assert len(members) == 1

    await first.disconnect()

    assert await group_members(layer, "host-12") == []
    second = socket("/ws/live/?groups=fleet", alice_cookie)
    assert (await second.connect())[0]
    await joined(second, "fleet")
    await asyncio.to_thread(send_now, {"type": "host.snapshot", "host": 12}, ["host-12"])
    assert await second.receive_nothing(timeout=QUIET)
    await second.disconnect()


async def test_a_message_for_a_group_reaches_every_member(
        layer: object, alice_cookie: bytes) -> None:
    sockets = [socket("/ws/live/?groups=fleet", alice_cookie) for _ in range(2)]
    for communicator in sockets:
        assert (await communicator.connect())[0]
        await joined(communicator, "fleet")

    await layer.group_send("fleet", {"type": MESSAGE_TYPE,  # type: ignore[attr-defined]
                                     "event": {"type": "host.snapshot", "host": 3}})

    for communicator in sockets:
        assert await communicator.receive_json_from(timeout=5) == {"type": "host.snapshot",
                                                                    "host": 3}
        await communicator.disconnect()


async def group_members(layer: object, group: str) -> list[bytes]:
    """The channels Redis holds in a group (channels_redis keeps a sorted set per group)."""
    key = layer._group_key(group)  # type: ignore[attr-defined]
    connection = layer.connection(layer.consistent_hash(group))  # type: ignore[attr-defined]
    return list(await connection.zrange(key, 0, -1))


async def test_a_worker_process_sends_every_event_on_one_loop_of_its_own(
        layer: object, alice_cookie: bytes, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    own = broadcast._OwnLoop()
    own.enabled = True
    monkeypatch.setattr(broadcast, "_OWN_LOOP", own)
    # The loop's connections are closed on it before the fixture empties the layer.
    request.addfinalizer(own.close)  # noqa: PT021 - the loop must close in this test
    communicator = socket("/ws/live/?groups=fleet,host-12", alice_cookie)
    assert (await communicator.connect())[0]
    await joined(communicator, "fleet", "host-12")

    await asyncio.to_thread(send_now, {"type": "host.analysed", "host": 12}, ["fleet", "host-12"])
    first = own._loop
    await asyncio.to_thread(send_now, {"type": "host.snapshot", "host": 12}, ["host-12"])

    assert first is not None and own._loop is first and first.is_running()
    received = [await communicator.receive_json_from(timeout=5) for _ in range(3)]
    assert received == [{"type": "host.analysed", "host": 12}] * 2 + [
        {"type": "host.snapshot", "host": 12}]
    await communicator.disconnect()
