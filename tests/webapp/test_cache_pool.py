"""The cache's Redis connections are shared by every request of a process."""

from typing import Any

import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def redis_cache(settings: Any) -> None:
    if not settings.REDIS_URL:
        pytest.skip("the shared cache is Redis only when REDIS_URL is set")


def test_the_cache_clients_of_two_requests_draw_from_one_pool() -> None:
    # Each request context gets a cache client of its own (an asgiref Local).
    first, second = caches.create_connection("default"), caches.create_connection("default")

    pools = [c._cache._get_connection_pool(write=True)  # type: ignore[attr-defined]
             for c in (first, second)]

    assert pools[0] is pools[1]

