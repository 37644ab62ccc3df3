"""Tasks that read the state as it is when they run, so that one run waiting in the queue
answers every request made before it starts: later requests are dropped until it starts. Such
a task may also hold a mark while it runs, so that two runs never compute side by side."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)


class QueuedOnce:
    """A mark in the shared cache saying a run of `name` waits in the queue. `seconds` bounds
    how long a lost message holds back later requests; `without_cache` is what to do when the
    cache cannot say (queue a run, or leave it)."""

    def __init__(self, name: str, seconds: int = 300, *, without_cache: bool = True) -> None:
        self.key = f"{name}-queued"
        self.name = name
        self.seconds = seconds
        self.without_cache = without_cache

    def request(self, enqueue: Callable[[], Any]) -> None:
        """Call `enqueue` unless a run is waiting already; a failure to enqueue is logged."""
        try:
            if not cache.add(self.key, True, self.seconds):
                return
        except Exception:
            logger.warning("could not read whether %s is queued", self.name)
            if not self.without_cache:
                return
        try:
            enqueue()
        except Exception:  # a later request asks again
            logger.exception("could not enqueue %s", self.name)
            self.started()

    def started(self) -> None:
        """The waiting run starts: a request from now on queues the next one."""
        try:
            cache.delete(self.key)
        except Exception:
            logger.warning("could not clear the queued mark of %s", self.name)

    @contextmanager
    def alone(self, seconds: int = 900) -> Iterator[bool]:
        """Whether no other run holds the running mark (then this one holds it until the
        block ends, or `seconds` if its worker dies); True when the cache cannot say."""
        key = f"{self.name}-running"
        try:
            held = bool(cache.add(key, True, seconds))
        except Exception:
            logger.warning("could not read whether %s is running", self.name)
            yield True
            return
        try:
            yield held
        finally:
            if held:
                try:
                    cache.delete(key)
                except Exception:
                    logger.warning("could not clear the running mark of %s", self.name)
