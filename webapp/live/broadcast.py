"""Small "this changed" events for the browsers, sent to channel groups once the change is
committed. Browsers refetch what an event names over REST."""

from __future__ import annotations

import asyncio
import logging
import re
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
    if _in_event_loop():
        # Synchronous code called from an event loop's own thread cannot wait on the loop
        # it blocks: send from a helper thread instead.
        with ThreadPoolExecutor(max_workers=1) as helper:
            helper.submit(_send, event, tuple(groups)).result()
        return
    _send(event, groups)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _send(event: dict[str, Any], groups: Iterable[str]) -> None:
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        send = async_to_sync(layer.group_send)
        for group in groups:
            send(group, {"type": MESSAGE_TYPE, "event": event})
    except Exception:  # Redis down or unreachable: pages catch up on their next refetch
        logger.warning("could not broadcast %s", event.get("type"), exc_info=True)


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
