"""Small "this changed" events for the browsers, sent to channel groups once the change is
committed. Browsers refetch what an event names over REST."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

FLEET = "fleet"
# The groups a page may join: the whole fleet, one host, one generation.
GROUP_PATTERN = re.compile(r"^(fleet|host-[0-9]{1,18}|generation-[0-9]{1,18})$")
MESSAGE_TYPE = "live.event"  # the consumer's handler: live_event


def host_group(host_id: int) -> str:
    return f"host-{host_id}"


def generation_group(number: int) -> str:
    return f"generation-{number}"


def broadcast(event: dict[str, Any], groups: Iterable[str]) -> None:
    """Send `event` to each group after the current transaction commits (at once outside one).
    A channel layer that is down is logged, never raised: the data is stored either way."""
    targets = tuple(groups)
    transaction.on_commit(lambda: send_now(event, targets))


def send_now(event: dict[str, Any], groups: Iterable[str]) -> None:
    """Send `event` to each group now, logging instead of raising when the layer fails."""
    targets = tuple(groups)
    try:
        if _OWN_LOOP.enabled:
            _OWN_LOOP.send(event, targets)
        elif _in_event_loop():
            # Synchronous code called from an event loop's own thread cannot wait on the loop
            # it blocks: send from a helper thread instead.
            with ThreadPoolExecutor(max_workers=1) as helper:
                helper.submit(async_to_sync(_group_send), event, targets).result()
        else:
            async_to_sync(_group_send)(event, targets)
    except Exception:  # Redis down or unreachable: pages catch up on their next refetch
        logger.warning("could not broadcast %s", event.get("type"), exc_info=True)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _group_send(event: dict[str, Any], groups: tuple[str, ...]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        await layer.group_send(group, {"type": MESSAGE_TYPE, "event": event})


class _OwnLoop:
    """An event loop of this process's own, on a daemon thread, that every send waits on.
    async_to_sync from plain synchronous code opens a new loop, and with it a new channel
    layer connection, for each event (about 9 ms of CPU); a worker process that sends an
    event for every analysis step keeps one loop and its connections instead."""

    SEND_TIMEOUT = 10.0  # seconds; Redis that stopped answering is logged, like one that is down

    def __init__(self) -> None:
        self.enabled = False
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked child has the parent's loop object but not its thread.
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="broadcast", daemon=True)
                self._thread.start()
            return self._loop

    def close(self) -> None:
        """Stop the loop and close the channel layer's connections on it."""
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
        if loop is None or thread is None or self._pid != os.getpid():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()  # the channel layer closes its connections of this loop first

    def send(self, event: dict[str, Any], groups: tuple[str, ...]) -> None:
        asyncio.run_coroutine_threadsafe(_group_send(event, groups),
                                         self._running_loop()).result(self.SEND_TIMEOUT)


_OWN_LOOP = _OwnLoop()


def send_from_own_loop() -> None:
    """Send this process's events from one loop of its own (a Celery worker process, which
    runs no event loop; the web's sync views send on the server's loop already)."""
    _OWN_LOOP.enabled = True


def host_snapshot(host_id: int) -> None:
    """A host stored a new snapshot."""
    broadcast({"type": "host.snapshot", "host": host_id}, (FLEET, host_group(host_id)))


def host_analysed(host_id: int) -> None:
    """A host's partition (edges and drift findings) was stored."""
    broadcast({"type": "host.analysed", "host": host_id}, (FLEET, host_group(host_id)))


def host_progress(host_id: int, done: int, total: int) -> None:
    """A running analysis of a host reached step `done` of `total`."""
    broadcast({"type": "host.progress", "host": host_id, "done": done, "total": total},
              (host_group(host_id),))


def generation_progress(number: int, converged: int, listed: int) -> None:
    """A generation's convergence was stored: `converged` of `listed` hosts hold it."""
    broadcast({"type": "generation.progress", "generation": number, "converged": converged,
               "listed": listed}, (FLEET, generation_group(number)))
