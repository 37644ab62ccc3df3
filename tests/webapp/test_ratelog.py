"""The sliding-log rate limit in Redis: DRF's rule, decided atomically in one round trip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from redis import Redis

from webapp.ratelog import take

NOW = 1_800_000_000.0


@pytest.fixture
def redis(settings: Any) -> Iterator[Redis]:
    """The test Redis, with a key of this test alone deleted afterwards."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    client = Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def key(redis: Redis) -> Iterator[str]:
    name = f"ratelog-test:{uuid.uuid4().hex}"
    yield name
    redis.delete(name)


def test_it_allows_the_limit_then_says_when_the_oldest_leaves_the_window(
        redis: Redis, key: str) -> None:
    answers = [take(redis, key, 3, 60, NOW + i) for i in range(4)]

    assert answers[:3] == [0.0, 0.0, 0.0]
    assert answers[3] == pytest.approx(57.0)


def test_an_event_leaves_the_window_after_the_window(redis: Redis, key: str) -> None:
    for i in range(3):
        take(redis, key, 3, 60, NOW + i)

    assert take(redis, key, 3, 60, NOW + 60) == 0.0  # the first is out, exactly at 60 s
    assert take(redis, key, 3, 60, NOW + 60) == pytest.approx(1.0)


def test_a_refused_event_is_not_counted(redis: Redis, key: str) -> None:
    take(redis, key, 1, 60, NOW)
    for i in range(5):
        take(redis, key, 1, 60, NOW + 1 + i)

    assert take(redis, key, 1, 60, NOW + 60) == 0.0


def test_the_log_expires_with_its_window(redis: Redis, key: str) -> None:
    take(redis, key, 3, 60, NOW)

    assert 0 < redis.ttl(key) <= 60


def test_events_at_the_same_time_never_pass_the_limit(redis: Redis, key: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: take(redis, key, 10, 60, NOW), range(40)))

    assert answers.count(0.0) == 10
