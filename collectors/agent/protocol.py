"""The agent's side of docs/ingest.md: the three requests and where each one goes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

ENDPOINTS = {
    "snapshot": "/api/ingest/snapshots/",
    "heartbeat": "/api/ingest/heartbeat/",
    "flows": "/api/ingest/flows/",
}
FLOW_SOURCES = ("auto", "aws_vpc", "gcp_vpc", "azure_nsg", "hubble", "conntrack", "ulogd2",
                "kernel_log")


@dataclass(frozen=True)
class Request:
    """One POST to the ingest API: its kind (a key of ENDPOINTS) and its JSON body."""

    kind: str
    body: Mapping[str, Any]

    @property
    def path(self) -> str:
        return ENDPOINTS[self.kind]

    @cached_property
    def content_hash(self) -> str | None:
        """The hash a snapshot's dumps have, or a heartbeat names; None for flows."""
        if self.kind == "snapshot":
            return snapshot_hash(self.body["dumps"])
        if self.kind == "heartbeat":
            return str(self.body["snapshot_hash"])
        return None

    def describe(self) -> str:
        """A short name for logs: the kind and what it carries, never the credentials."""
        if self.kind in ("snapshot", "heartbeat"):
            return f"{self.kind} hash {str(self.content_hash)[:12]}"
        lines = str(self.body.get("text", "")).count("\n")
        return f"flows {self.body.get('source')}:{self.body.get('filename')} ({lines} lines)"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "body": dict(self.body)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Request:
        if not isinstance(data, Mapping):
            raise ValueError("not a spooled request: not a JSON object")
        kind, body = data.get("kind"), data.get("body")
        if kind not in ENDPOINTS or not isinstance(body, dict) or (
                kind == "snapshot" and not isinstance(body.get("dumps"), dict)):
            raise ValueError(f"not a spooled request: kind={kind!r}")
        return cls(kind=kind, body=body)


def snapshot_hash(dumps: Mapping[str, str]) -> str:
    """SHA-256 over the dump names and texts in sorted name order: for each dump, the UTF-8 name,
    a NUL byte, the UTF-8 text and a NUL byte (a name holds no NUL, so no two different sets of
    dumps share an encoding). The server must compute the same; it can import this function."""
    digest = hashlib.sha256()
    for name in sorted(dumps):
        digest.update(name.encode("utf-8") + b"\0" + dumps[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


def iso_time(seconds: float) -> str:
    """UTC time as docs/ingest.md writes it: 2026-11-26T03:00:05Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def snapshot_request(host: str, collected_at: float, dumps: Mapping[str, str]) -> Request:
    """The snapshot of one round's dumps."""
    return Request("snapshot", {"host": host, "collected_at": iso_time(collected_at),
                                "dumps": dict(dumps)})


def heartbeat_request(host: str, sent_at: float, content_hash: str) -> Request:
    """The heartbeat sent instead of an unchanged snapshot."""
    return Request("heartbeat", {"host": host, "sent_at": iso_time(sent_at),
                                 "snapshot_hash": content_hash})


def flows_request(host: str, source: str, filename: str, text: str) -> Request:
    """A batch of new complete lines from one flow-log file."""
    return Request("flows", {"host": host, "source": source, "filename": filename, "text": text})
