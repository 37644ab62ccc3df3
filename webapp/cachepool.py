"""One Redis connection pool a process for the cache, whichever request asks.

Django keeps a cache client per request context (an asgiref Local), so under ASGI each request
built its own redis-py pool and opened, greeted and dropped a connection to Redis of its own."""

from __future__ import annotations

import threading
from typing import Any

from redis import ConnectionPool

_pools: dict[tuple[str, str], ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(ConnectionPool):
    """redis-py's pool, one a URL and options in a process (a forked child gets its own:
    redis-py's pool checks the process id)."""

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:  # the same pool for the same Redis
        key = (url, repr(sorted(kwargs.items())))
        with _lock:
            if key not in _pools:
                _pools[key] = super().from_url(url, **kwargs)
            return _pools[key]
