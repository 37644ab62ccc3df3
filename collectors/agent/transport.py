"""Sending a request to the ingest API and sorting the answer into delivered, retry or rejected.

Connection errors, timeouts, 429 and 5xx are worth another attempt later; any other answer
outside 2xx (including a redirect, which would turn the POST into a GET) will not get better by
repeating the request.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from collectors.agent.protocol import Request

log = logging.getLogger("segscope.agent")

DEFAULT_HTTP_TIMEOUT = 60.0
USER_AGENT = "segscope-agent/0.1"
DELIVERED, RETRY, REJECTED = "delivered", "retry", "rejected"


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: DELIVERED, RETRY or REJECTED, the HTTP status if there was an
    answer, its JSON body, and a reason for logs."""

    result: str
    status: int | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: Any, msg: Any, headers: Any,
                         newurl: Any) -> None:
        return None


class HttpTransport:
    """POSTs JSON to the server with the host's token."""

    def __init__(self, server: str, token: str, timeout: float = DEFAULT_HTTP_TIMEOUT) -> None:
        self.server = server.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects)

    def __repr__(self) -> str:
        return f"HttpTransport({self.server!r})"  # never the token

    def send(self, request: Request) -> Outcome:
        data = json.dumps(request.body, ensure_ascii=False, separators=(",", ":"))
        http_request = urllib.request.Request(
            self.server + request.path, data=data.encode("utf-8"), method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "User-Agent": USER_AGENT, "Authorization": f"Token {self._token}"})
        try:
            with self._opener.open(http_request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, _read_quietly(exc)
            exc.close()
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            return Outcome(RETRY, reason=f"{type(exc).__name__}: {reason}")
        body = _json_object(raw)
        if 200 <= status < 300:
            return Outcome(DELIVERED, status, body, "ok")
        reason = f"HTTP {status}"
        detail = body.get("error") or body.get("detail")
        if detail:
            reason += f": {json.dumps(detail)[:300]}"
        elif 300 <= status < 400:
            reason += " (redirect: check --server)"
        return Outcome(RETRY if status == 429 or status >= 500 else REJECTED, status, body, reason)


class DryRunTransport:
    """Prints each request as one JSON line instead of sending it; texts are abbreviated unless
    `verbose`. Every request counts as delivered and every heartbeat as known."""

    def __init__(self, server: str, out: TextIO, verbose: bool = False) -> None:
        self.server = server.rstrip("/")
        self.out = out
        self.verbose = verbose

    def send(self, request: Request) -> Outcome:
        body = dict(request.body)
        if not self.verbose:
            if "dumps" in body:
                body["dumps"] = {name: abbreviate(text) for name, text in body["dumps"].items()}
            if "text" in body:
                body["text"] = abbreviate(body["text"])
        line = {"method": "POST", "url": self.server + request.path, "body": body}
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()
        return Outcome(DELIVERED, None, {"status": "dry-run", "known": True}, "dry run")


def abbreviate(text: str, keep: int = 120) -> str:
    """The first `keep` characters of a text and its size, for printing."""
    if len(text) <= keep:
        return text
    return f"{text[:keep]}… [{len(text)} chars, {text.count(chr(10))} lines]"


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _json_object(raw: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8", errors="replace")) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
