"""A sliding-log rate limit kept in Redis and decided there in one round trip.

The rule is DRF's SimpleRateThrottle's: an event is allowed while fewer than `limit` allowed
events lie within the last `window` seconds. DRF reads the log from the cache and writes it
back, two round trips and a pickled list, between which another web process may take the same
last place; here a script that Redis runs atomically decides and records at once."""

from __future__ import annotations

import secrets

from redis import Redis
from redis.commands.core import Script

# KEYS[1]: the log, a sorted set of events scored by time. ARGV: now, window, limit, a new
# event's name. Answers 0 when the event is recorded, else the seconds until the oldest
# event leaves the window (as text: Lua numbers come back as whole numbers).
_SOURCE = b"""
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(window))
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
return tostring(tonumber(oldest) + window - now)
"""
# No client of its own: each call names the cache's.
_TAKE = Script(None, _SOURCE)  # type: ignore[arg-type]


def take(client: Redis, key: str, limit: int, window: int, now: float) -> float:
    """Record an event at `now` under `key` if the window has room: 0.0 if it was recorded,
    else the seconds to wait."""
    # Named apart: two events of the same instant are two events.
    event = f"{now!r}:{secrets.token_hex(4)}"
    return float(_TAKE(keys=[key], args=[repr(now), window, limit, event], client=client))
