"""What every ingest endpoint shares: agent-token authentication, the host scope of a token and
request bodies bounded by SEGSCOPE_MAX_UPLOAD_BYTES."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from redis.exceptions import RedisError
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from webapp import ratelog
from webapp.inventory.models import AgentToken, Host

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    """413: a request over one of the configured ingest limits."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self, limit: str, maximum: int, reason: str) -> None:
        super().__init__(reason)
        # Set directly: the constructor would turn the number into text.
        self.detail = {"error": {"limit": limit, "maximum": maximum, "reason": reason}}  # type: ignore[dict-item]


class InputErrorSerializer(serializers.Serializer[Any]):
    """Where uploaded input could not be read: file, line, column and why."""

    file = serializers.CharField()
    line = serializers.IntegerField()
    column = serializers.IntegerField()
    reason = serializers.CharField()


@extend_schema_field(OpenApiTypes.STR)
class RawTextField(serializers.Field[str, str, str, Any]):
    """A tool's output kept verbatim: any text PostgreSQL can store (no NUL, valid Unicode)."""

    # CharField would trim it and test each of its million characters in Python; this field
    # lets the C codec do the checking.
    default_error_messages = {
        "invalid": "must be text",
        "null_character": "contains a NUL character",
        "surrogate": "is not valid Unicode (lone surrogate)",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            self.fail("null_character")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("surrogate")
        return data

    def to_representation(self, value: str) -> str:
        return value


class LimitDetailSerializer(serializers.Serializer[Any]):
    """Which limit a request went past."""

    limit = serializers.CharField()
    maximum = serializers.IntegerField()
    reason = serializers.CharField()


class LimitErrorSerializer(serializers.Serializer[Any]):
    """413: over SEGSCOPE_MAX_UPLOAD_BYTES, SEGSCOPE_MAX_RULES or SEGSCOPE_MAX_FLOW_BATCH."""

    error = LimitDetailSerializer()


# The answers every ingest endpoint may give besides its own, for the OpenAPI schema.
AGENT_ERROR_RESPONSES: dict[int, Any] = {
    401: OpenApiResponse(description="no, unknown or revoked agent token"),
    403: OpenApiResponse(description="the token belongs to another host"),
    413: LimitErrorSerializer,
    429: OpenApiResponse(description="over SEGSCOPE_INGEST_RATE for this token; "
                                     "`Retry-After` says when to send again"),
}


class AgentTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <token>`: the request acts for the token's host."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[AnonymousUser, AgentToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed("Token header must be `Token <token>`.")
        try:
            plaintext = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.") from None
        try:
            # get(), not first(): token_hash is unique, and first() would sort by the token
            # ordering's host name, a join compiled on every ingest request.
            token = AgentToken.objects.select_related("host").get(
                token_hash=AgentToken.hash_token(plaintext), revoked_at__isnull=True)
        except AgentToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown or revoked token.") from None
        # Agents are not users: the token, in request.auth, is the whole identity.
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def agent_host(request: Request) -> Host:
    """The host whose token authenticated the request (after HostTokenScope allowed it)."""
    token = request.auth
    if not isinstance(token, AgentToken):
        raise exceptions.NotAuthenticated()
    return token.host


class AgentTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes agent-token authentication."""

    target_class = AgentTokenAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <token>`, as `manage.py create_agent_token HOST` "
                               "printed it; the token may only write its own host."}


class HostTokenScope(BasePermission):
    """Only an agent token, and only for the host it belongs to (the body's `host`)."""

    message = "This token belongs to another host."
    role = "agent"  # what the OpenAPI schema and webapp.api.permissions.required_role say

    def has_permission(self, request: Request, view: APIView) -> bool:
        token = request.auth
        if not isinstance(token, AgentToken):
            return False
        named = request.data.get("host") if isinstance(request.data, Mapping) else None
        # A body without a host fails validation with 400 later; only a wrong host is refused.
        return named is None or named == token.host.name


def read_bounded_body(stream: IO[Any] | None, parser_context: Mapping[str, Any] | None) -> bytes:
    """The request body, refused with 413 past SEGSCOPE_MAX_UPLOAD_BYTES: at once when the
    declared length is over it, else before more than that is read."""
    maximum: int = settings.SEGSCOPE_MAX_UPLOAD_BYTES
    request = (parser_context or {}).get("request")
    declared = request.META.get("CONTENT_LENGTH") if request is not None else None
    size = int(declared) if declared and declared.isdecimal() else 0
    body = b""
    if size <= maximum and stream is not None:
        body = stream.read(maximum + 1)
        size = len(body)
    if size > maximum:
        raise PayloadTooLarge("SEGSCOPE_MAX_UPLOAD_BYTES", maximum,
                              f"the body is {size} bytes; the limit is {maximum}")
    return body


class BoundedJSONParser(BaseParser):
    """JSON, refused with 413 past SEGSCOPE_MAX_UPLOAD_BYTES before it is read into memory."""

    # Not a JSONParser: DRF hands those `request.body`, which Django refuses past its own
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB, a 400) before our limit is even looked at.
    media_type = "application/json"

    def parse(self, stream: IO[Any], media_type: str | None = None,
              parser_context: Mapping[str, Any] | None = None) -> Any:
        body = read_bounded_body(stream, parser_context)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class AgentTokenRateThrottle(SimpleRateThrottle):
    """At most SEGSCOPE_INGEST_RATE requests per agent token, counted in the shared cache."""

    scope = "ingest"
    waiting = 0.0  # seconds until the token may send again, once refused

    def get_rate(self) -> str:
        # Read per request rather than from DRF's class-level copy of the settings.
        return str(settings.SEGSCOPE_INGEST_RATE)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        token = request.auth
        if not isinstance(token, AgentToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}

    def allow_request(self, request: Request, view: APIView) -> bool:
        """Count the request; with the cache (Redis) unreachable, let it through uncounted:
        ingest commits to the database whether or not Redis is up."""
        try:
            backend = caches["default"]
            if not isinstance(backend, RedisCache):  # one process's own count (no REDIS_URL)
                return super().allow_request(request, view)
            key = self.get_cache_key(request, view)
            limit, window = self.parse_rate(self.rate)
            if key is None or limit is None or window is None:
                return True
            client = backend._cache.get_client(key, write=True)
            self.waiting = ratelog.take(client, backend.make_and_validate_key(key), limit,
                                        window, self.timer())
            return self.waiting == 0
        except (RedisError, OSError) as exc:
            logger.warning("ingest rate not counted, the cache is unreachable: %s", exc)
            return True

    def wait(self) -> float | None:
        return self.waiting or super().wait()


class IngestView(APIView):
    """Base of the agent endpoints: token authentication, host scope, a rate per token,
    bounded JSON bodies."""

    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [HostTokenScope]
    throttle_classes = [AgentTokenRateThrottle]
    parser_classes = [BoundedJSONParser]
