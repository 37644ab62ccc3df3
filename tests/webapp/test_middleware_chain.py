"""Under ASGI the middleware chain runs in one thread, switching from the event loop once."""

from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync
from django.core.handlers.asgi import ASGIHandler


def _chain(handler: Any) -> list[str]:
    """The middleware Django chained, outermost first, each `name` or `name (async)`, and
    the sync/async adapters between them."""
    found = []
    while handler is not None:
        if isinstance(handler, SyncToAsync):
            found.append("sync_to_async")
            handler = handler.func
        elif isinstance(handler, AsyncToSync):
            found.append("async_to_sync")
            handler = handler.awaitable
        elif hasattr(handler, "__wrapped__"):  # Django's exception handling around each
            handler = handler.__wrapped__
        elif hasattr(handler, "get_response"):
            # Django's own middleware, run asynchronously, hop to a thread for each of
            # their hooks.
            found.append(type(handler).__name__ + (" (async)" if getattr(
                handler, "async_mode", False) else ""))
            handler = handler.get_response
        else:  # the view dispatch
            handler = None
    return found


def test_the_middleware_run_in_one_thread_between_the_event_loop_and_the_view() -> None:
    chain = _chain(ASGIHandler()._middleware_chain)  # as a web process loads it

    # Into a thread once at the top; back to the event loop only for Django's view
    # dispatch, which runs the view in that same thread.
    assert [step for step in chain if not step.endswith("Middleware")] == [
        "sync_to_async", "async_to_sync"]
    assert chain[0] == "sync_to_async" and chain[-1] == "async_to_sync"
