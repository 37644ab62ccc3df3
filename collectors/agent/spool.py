"""Requests kept on disk while the server cannot take them, and the backoff between attempts.

One file per request, named by a sequence number (000000000042.json), written to a hidden
temporary file, flushed and renamed into place, so that a crash leaves either the whole request
or nothing. Files are replayed in sequence order and removed once the server has answered.
The spool has a size limit, and the disk under it may fill up first: either way a new
snapshot or heartbeat makes room by dropping the oldest spooled snapshot or heartbeat (state
that the new one supersedes), and a heartbeat replaces a heartbeat at the end of the spool.
Flow-log lines are never dropped: when they do not fit, they are not spooled, and the agent
reads the same lines again in a later round.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.agent.protocol import Request

log = logging.getLogger("segscope.agent")

REJECTED = "rejected"
REJECTED_KEEP = 100  # rejected requests kept for inspection; older ones are removed
_ENTRY = re.compile(r"^(\d{12})\.json$")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old content or the new, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # A full disk leaves a part written: it must not hold on to the space it took.
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolFull(OSError):
    """A request that would take the spool past its size limit, or that the disk has no room
    for; it is not written."""

# Requests that carry the host's state: a newer one supersedes an older one.
_STATE_KINDS = frozenset({"snapshot", "heartbeat"})


@dataclass(frozen=True)
class SpoolEntry:
    """A spooled request and the sequence number its file is named by."""

    seq: int
    path: Path

    def load(self) -> Request:
        data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        return Request.from_dict(data)


class Spool:
    """The spool directory: appends in sequence order, replays oldest first, sets rejects aside.

    Only one agent may use a directory at a time (the command line holds a lock on it), so the
    sequence numbers are kept in memory after one scan of the directory.
    """

    def __init__(self, directory: Path, clean: bool = True,
                 max_bytes: int | None = None) -> None:
        self.directory = directory
        self.rejected_dir = directory / REJECTED
        self.max_bytes = max_bytes
        self._pending = sorted(self._scan(directory))
        self._sizes = {seq: self._path(seq).stat().st_size for seq in self._pending}
        self._kinds: dict[int, str] = {}  # read from the files when first needed
        self._next = max([0, *self._pending, *self._scan(self.rejected_dir)]) + 1
        if clean and directory.is_dir():
            for stale in directory.glob(".*.tmp"):
                # A write that a crash interrupted; its request was never counted as spooled.
                stale.unlink()

    @staticmethod
    def _scan(directory: Path) -> Iterator[int]:
        if directory.is_dir():
            for name in os.listdir(directory):
                match = _ENTRY.match(name)
                if match:
                    yield int(match.group(1))

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def size(self) -> int:
        """Bytes of the spooled requests."""
        return sum(self._sizes.values())

    def entries(self) -> list[SpoolEntry]:
        """The spooled requests, oldest first."""
        return [SpoolEntry(seq, self._path(seq)) for seq in self._pending]

    def add(self, request: Request) -> int:
        """Append a request; return its sequence number. A heartbeat replaces a heartbeat
        spooled last. When the request does not fit (max_bytes, or the disk is full), a
        snapshot or heartbeat drops the oldest spooled snapshot or heartbeat, one at a time,
        until it does; raises SpoolFull, writing nothing, when it still does not fit."""
        data = _encode(request)
        if request.kind == "heartbeat" and self._pending and \
                self._kind(self._pending[-1]) == "heartbeat":
            self._drop(self._pending[-1], "replaced by a newer heartbeat", logging.DEBUG)
        while True:
            try:
                seq = self._write(data)
            except SpoolFull as exc:
                oldest = self._oldest_state() if request.kind in _STATE_KINDS else None
                if oldest is None:
                    raise
                self._drop(oldest, f"{exc.strerror or exc}: dropped to keep the newer "
                                   f"{request.kind}", logging.ERROR)
                continue
            self._kinds[seq] = request.kind
            return seq

    def _write(self, data: bytes) -> int:
        if self.max_bytes is not None and self.size + len(data) > self.max_bytes:
            raise SpoolFull(f"the spool is full ({self.size} bytes spooled, {len(data)} more "
                            f"would pass the limit of {self.max_bytes})")
        seq = self._take_seq()
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            write_atomic(self._path(seq), data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise SpoolFull(errno.ENOSPC, f"the disk under the spool {self.directory} is full "
                                          f"({self.size} bytes spooled, {len(data)} more do not "
                                          "fit)") from exc
        self._pending.append(seq)
        self._sizes[seq] = len(data)
        return seq

    def _kind(self, seq: int) -> str | None:
        """What a spooled request is (snapshot, heartbeat, flows); None if it is unreadable."""
        if seq not in self._kinds:
            try:
                self._kinds[seq] = SpoolEntry(seq, self._path(seq)).load().kind
            except (OSError, ValueError):
                return None
        return self._kinds[seq]

    def _oldest_state(self) -> int | None:
        return next((seq for seq in self._pending if self._kind(seq) in _STATE_KINDS), None)

    def _drop(self, seq: int, why: str, level: int) -> None:
        log.log(level, "spooled #%d (%s) %s", seq, self._kinds.get(seq), why)
        self.remove(SpoolEntry(seq, self._path(seq)))

    def remove(self, entry: SpoolEntry) -> None:
        """Forget a request the server has answered."""
        entry.path.unlink()
        self._pending.remove(entry.seq)
        self._sizes.pop(entry.seq, None)
        self._kinds.pop(entry.seq, None)

    def reject(self, entry: SpoolEntry) -> Path:
        """Move a spooled request the server refused to rejected/; return where it went."""
        target = self._rejected_target(entry.seq)
        os.replace(entry.path, target)
        self._pending.remove(entry.seq)
        self._sizes.pop(entry.seq, None)
        self._kinds.pop(entry.seq, None)
        self._prune_rejected()
        return target

    def reject_new(self, request: Request) -> Path:
        """Keep a request that was never spooled but that the server refused in rejected/."""
        target = self._rejected_target(self._take_seq())
        write_atomic(target, _encode(request))
        self._prune_rejected()
        return target

    def _take_seq(self) -> int:
        seq = self._next
        self._next += 1
        return seq

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}.json"

    def _rejected_target(self, seq: int) -> Path:
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        return self.rejected_dir / f"{seq:012d}.json"

    def _prune_rejected(self) -> None:
        for seq in sorted(self._scan(self.rejected_dir))[:-REJECTED_KEEP]:
            (self.rejected_dir / f"{seq:012d}.json").unlink()


def _encode(request: Request) -> bytes:
    return json.dumps(request.to_dict(), ensure_ascii=False).encode("utf-8")


@dataclass
class Backoff:
    """Exponential backoff with jitter: after the n-th failure in a row, wait between half and
    all of min(cap, base * 2**(n-1)) seconds; a success starts over."""

    base: float = 1.0
    cap: float = 300.0
    random: Callable[[], float] = field(default=random.random)
    failures: int = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next attempt."""
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 64))
        self.failures += 1
        return ceiling * (0.5 + 0.5 * self.random())

    def reset(self) -> None:
        self.failures = 0
