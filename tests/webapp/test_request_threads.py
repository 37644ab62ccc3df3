"""HTTP requests' synchronous code runs on threads kept from one request to the next, one
thread a request at a time."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async

from webapp.requestthreads import RequestThreads


class ThreadNoting:
    """An application that notes the thread of each of its thread-sensitive calls, as
    Django's handler makes them (inside a ThreadSensitiveContext of its own)."""

    def __init__(self, calls: int = 2, pause: float = 0.0) -> None:
        self.calls, self.pause = calls, pause
        self.threads: list[list[int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        seen: list[int] = []
        self.threads.append(seen)
        async with ThreadSensitiveContext():
            for _ in range(self.calls):
                seen.append(await sync_to_async(threading.get_ident)())
                await asyncio.sleep(self.pause)


async def _request(app: Any, kind: str = "http") -> None:
    await app({"type": kind}, None, None)


async def test_one_requests_calls_all_run_on_one_thread() -> None:
    app = ThreadNoting(calls=3)

    await _request(RequestThreads(app))

    assert len(set(app.threads[0])) == 1


async def test_requests_one_after_another_reuse_the_thread() -> None:
    app = ThreadNoting()
    threads = RequestThreads(app)

    for _ in range(3):
        await _request(threads)

    assert len({thread for request in app.threads for thread in request}) == 1


async def test_requests_at_the_same_time_get_threads_of_their_own() -> None:
    app = ThreadNoting(pause=0.01)
    threads = RequestThreads(app)

    await asyncio.gather(_request(threads), _request(threads))

    first, second = app.threads
    assert len(set(first)) == len(set(second)) == 1
    assert set(first) != set(second)


async def test_websockets_pass_through_untouched() -> None:
    app = ThreadNoting(calls=1)
    threads = RequestThreads(app)

    await _request(threads, kind="websocket")

    assert threads._idle == []
