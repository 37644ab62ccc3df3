"""Following flow-log files: new complete lines since the last committed offset.

A position is (device, inode, offset). The offset only moves when the caller commits a batch,
after the batch was delivered or spooled, so a crash repeats lines rather than losing them.
Truncation (the file is shorter than the offset) starts over at 0. Rotation (the path names
another inode) is noticed in two ways: while the agent runs, it keeps the old file open and
reads it to its end before it turns to the new one; after a restart, the saved inode differs
from the path's and the new file is read from its start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from collectors.agent.protocol import FLOW_SOURCES

log = logging.getLogger("segscope.agent")

MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_BATCH_LINES = 50_000  # the server refuses batches above 200,000 lines


@dataclass(frozen=True)
class FlowSource:
    """A flow-log file and the format its lines are in (one of protocol.FLOW_SOURCES)."""

    source: str
    path: str

    @classmethod
    def parse(cls, text: str) -> FlowSource:
        """SOURCE:PATH, e.g. ulogd2:/var/log/ulogd.json."""
        source, sep, path = text.partition(":")
        if not sep or not path:
            raise ValueError(f"expected SOURCE:PATH, got {text!r}")
        if source not in FLOW_SOURCES:
            raise ValueError(
                f"unknown flow-log source {source!r} (one of {', '.join(FLOW_SOURCES)})")
        return cls(source, path)


@dataclass(frozen=True)
class Position:
    """Where reading a file got to: which file (device, inode) and how far (bytes)."""

    device: int
    inode: int
    offset: int

    def to_dict(self) -> dict[str, int]:
        return {"device": self.device, "inode": self.inode, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Position:
        return cls(int(data["device"]), int(data["inode"]), int(data["offset"]))

    def same_file(self, stat: os.stat_result) -> bool:
        return (self.device, self.inode) == (stat.st_dev, stat.st_ino)


@dataclass(frozen=True)
class FlowBatch:
    """Complete lines read from a file, and the position just after them."""

    text: str
    lines: int
    end: Position


class FileFollower:
    """Reads one flow-log file from a committed position; see the module docstring."""

    def __init__(self, flow_source: FlowSource, position: Position | None = None) -> None:
        self.flow_source = flow_source
        self.position = position
        self._handle: IO[bytes] | None = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def commit(self, batch: FlowBatch) -> None:
        """Record that `batch` was delivered or spooled."""
        self.position = batch.end

    def batches(self) -> Iterator[FlowBatch]:
        """The new complete lines, in batches; commit each before asking for the next one."""
        if self._handle is not None:
            yield from self._drain()
            if not self._rotated():
                return
            log.info("flow log %s was rotated; following the new file", self.flow_source.path)
            self.close()
            self.position = None
        if self._open():
            yield from self._drain()

    def _rotated(self) -> bool:
        try:
            current = os.stat(self.flow_source.path)
        except FileNotFoundError:
            return False  # moved away and not yet replaced: keep reading the old file
        assert self.position is not None
        return not self.position.same_file(current)

    def _open(self) -> bool:
        try:
            handle = open(self.flow_source.path, "rb")  # kept open across rounds
        except FileNotFoundError:
            log.debug("flow log %s does not exist (yet)", self.flow_source.path)
            return False
        except OSError as exc:
            log.warning("cannot open flow log %s: %s", self.flow_source.path, exc)
            return False
        stat = os.fstat(handle.fileno())
        offset = 0
        if self.position is not None and self.position.same_file(stat):
            offset = self.position.offset
        elif self.position is not None:
            log.info("flow log %s is another file than last time (rotated); reading it from the "
                     "start", self.flow_source.path)
        self.position = Position(stat.st_dev, stat.st_ino, offset)
        self._handle = handle
        return True

    def _drain(self) -> Iterator[FlowBatch]:
        handle, position = self._handle, self.position
        assert handle is not None and position is not None
        offset = position.offset
        if os.fstat(handle.fileno()).st_size < offset:
            log.info("flow log %s was truncated; reading it from the start", self.flow_source.path)
            offset = 0
            self.position = Position(position.device, position.inode, 0)
        while True:
            handle.seek(offset)
            chunk = handle.read(MAX_BATCH_BYTES)
            end = _complete_lines_end(chunk)
            if end == 0:
                if len(chunk) < MAX_BATCH_BYTES:
                    return  # nothing new, or only a line still being written
                log.warning("flow log %s has a line longer than %d bytes at offset %d; sending "
                            "it cut", self.flow_source.path, MAX_BATCH_BYTES, offset)
                end = len(chunk)
            data = chunk[:end]
            offset += end
            yield FlowBatch(text=data.decode("utf-8", errors="replace"),
                            lines=data.count(b"\n") or 1,
                            end=Position(position.device, position.inode, offset))


def _complete_lines_end(chunk: bytes) -> int:
    """How many bytes of `chunk` are complete lines, at most MAX_BATCH_LINES of them."""
    end = chunk.rfind(b"\n") + 1
    if chunk.count(b"\n", 0, end) <= MAX_BATCH_LINES:
        return end
    index = -1
    for _ in range(MAX_BATCH_LINES):
        index = chunk.index(b"\n", index + 1)
    return index + 1
