"""Login rate limits: failed password checks counted per client address and per user name in
the cache (Redis when REDIS_URL is set, so that every web process shares them); past a limit,
logins from that address or for that name are refused with 429 and `Retry-After` until the
lockout ends, whichever way the password comes (login page, admin, HTTP basic)."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Where the backend leaves the lockout for the middleware: in META, which a DRF request
# shares with the Django request it wraps.
LOCKED_META = "segscope.login_locked_for"


def client_address(request: Any) -> str:
    """The address a login comes from (REMOTE_ADDR: uvicorn --proxy-headers sets it from a
    trusted proxy's X-Forwarded-For)."""
    meta = getattr(request, "META", None) or {}
    return str(meta.get("REMOTE_ADDR") or "unknown")


def _key(kind: str, scope: str, ident: str) -> str:
    # Hashed: user names may hold any character, and the cache need not keep them.
    return f"login-{kind}:{scope}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def _scopes(address: str, username: str | None) -> list[tuple[str, str, int]]:
    scopes = [("address", address, settings.SEGSCOPE_LOGIN_FAILURES_PER_ADDRESS)]
    if username:
        scopes.append(("user", username.casefold(), settings.SEGSCOPE_LOGIN_FAILURES_PER_USER))
    return scopes


def locked_for(address: str, username: str | None) -> int:
    """Seconds until logins from `address` or for `username` are allowed again (0: now)."""
    now = time.time()
    until = max((float(cache.get(_key("locked", scope, ident)) or 0)
                 for scope, ident, _ in _scopes(address, username)), default=0.0)
    return math.ceil(until - now) if until > now else 0


def record_failure(address: str, username: str | None) -> None:
    """Count one failed login; a count reaching its limit within the window locks out."""
    window = settings.SEGSCOPE_LOGIN_WINDOW_SECONDS
    lockout = settings.SEGSCOPE_LOGIN_LOCKOUT_SECONDS
    for scope, ident, limit in _scopes(address, username):
        key = _key("failures", scope, ident)
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit:
            cache.set(_key("locked", scope, ident), time.time() + lockout, timeout=lockout)


def forget(address: str, username: str | None) -> None:
    """Clear the counts and lockouts of an address and a user name."""
    cache.delete_many([_key(kind, scope, ident) for kind in ("failures", "locked")
                       for scope, ident, _ in _scopes(address, username)])


class RateLimitedModelBackend(ModelBackend):
    """Django's user and password check, refused while the address or the name is locked out;
    each failure counted, a success clearing the name's count."""

    def authenticate(self, request: Any, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> Any:
        address = client_address(request)
        try:
            wait = locked_for(address, username)
        except (RedisError, OSError) as exc:
            # Logins go on while the cache is down, uncounted; the audit log still has them.
            logger.warning("login limits not applied, the cache is unreachable: %s", exc)
            return super().authenticate(request, username=username, password=password,
                                        **kwargs)
        if wait:
            if request is not None:
                request.META[LOCKED_META] = wait
            # Stops every backend; Django then sends user_login_failed (the audit log).
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        try:
            if user is None:
                record_failure(address, username)
            else:
                cache.delete(_key("failures", "user", (username or "").casefold()))
        except (RedisError, OSError) as exc:
            logger.warning("login not counted, the cache is unreachable: %s", exc)
        return user


class LoginLockoutMiddleware:
    """Answers 429 with `Retry-After` to a request whose login was refused for a lockout."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        wait = request.META.get(LOCKED_META)
        if not wait:
            return response
        detail = f"Too many failed logins; try again in {wait} seconds."
        locked: HttpResponse
        if request.path.startswith("/api/"):
            locked = JsonResponse({"detail": detail}, status=429)
        else:
            locked = HttpResponse(detail, status=429, content_type="text/plain; charset=utf-8")
        locked["Retry-After"] = str(wait)
        return locked
