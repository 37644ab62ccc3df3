"""The agent's rounds: collect, replay the spool, then send (or spool) what is new.

Order is the spool's promise: while anything is spooled, new requests join the end of the spool
instead of overtaking it, and the spool is replayed oldest first when the backoff allows.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from collectors.agent.collect import DEFAULT_COMMAND_TIMEOUT, Collection, collect_dumps
from collectors.agent.follow import FileFollower, FlowSource, Position
from collectors.agent.protocol import (
    Request,
    flows_request,
    heartbeat_request,
    snapshot_request,
)
from collectors.agent.spool import Backoff, Spool, SpoolEntry, write_atomic
from collectors.agent.transport import DELIVERED, RETRY, Outcome

SPOOLED, FAILED = "spooled", "failed"  # outcomes of a request that was not sent

log = logging.getLogger("segscope.agent")

STATE_FILE = "state.json"


class Transport(Protocol):
    def send(self, request: Request) -> Outcome: ...


@dataclass(frozen=True)
class AgentConfig:
    """What the command line decides: who we are, where state lives, what to follow."""

    host: str
    spool_dir: Path
    flow_sources: tuple[FlowSource, ...] = ()
    netns: str | None = None
    interval: float = 10.0
    # A snapshot whose rules are unchanged is sent for its counters at most this often.
    counters_every: float = 300.0
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    dry_run: bool = False
    spool_max_bytes: int | None = 256 * 1024 * 1024


@dataclass
class RoundResult:
    """Counts of one round's requests: delivered, spooled, rejected, and failures (a request
    that could be neither delivered nor spooled)."""

    delivered: int = 0
    spooled: int = 0
    replayed: int = 0
    rejected: int = 0
    failed: int = 0
    collection: Collection | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.failed)


class Agent:
    """One host's agent; `run_round` is one round, `run_forever` repeats it every interval."""

    def __init__(self, config: AgentConfig, transport: Transport, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 collect: Callable[[], Collection] | None = None) -> None:
        self.config = config
        self.transport = transport
        self.backoff = backoff if backoff is not None else Backoff()
        self.clock = clock
        self._collect = collect or (lambda: collect_dumps(config.netns, config.command_timeout))
        self.spool = Spool(config.spool_dir, clean=not config.dry_run,
                           max_bytes=config.spool_max_bytes)
        self.retry_at = -math.inf
        self._state_path = config.spool_dir / STATE_FILE
        state = self._load_state()
        # The hash of the last snapshot delivered or spooled (the spool will deliver it), the
        # hash of its rules alone and when it was collected.
        self.queued_hash: str | None = state.get("snapshot_hash")
        self.queued_rules_hash: str | None = state.get("rules_hash")
        collected_at = state.get("collected_at")
        self.queued_at = float(collected_at) if isinstance(collected_at, (int, float)) else None
        positions = state.get("flows")
        self.followers = [FileFollower(s, _position(positions, s.path))
                          for s in config.flow_sources]
        self._replayed_in_dry_run = False

    # -- the loop -------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Collect every interval and retry the spool when the backoff allows, until `stop`."""
        next_round = self.clock()
        while not stop.is_set():
            now = self.clock()
            try:
                if now >= next_round:
                    next_round = max(next_round + self.config.interval, now)
                    self.run_round()
                elif len(self.spool) and now >= self.retry_at:
                    self.replay(RoundResult())
            except OSError as exc:
                # The disk under the spool or the state: log it and try again later.
                self._schedule_retry("round", Outcome(FAILED, reason=str(exc)))
            wake = next_round if not len(self.spool) else min(next_round, self.retry_at)
            stop.wait(max(0.0, wake - self.clock()))
        for follower in self.followers:
            follower.close()

    def run_round(self, force_replay: bool = False) -> RoundResult:
        """Collect, replay the spool (if the backoff allows, or `force_replay`), send what is new
        and save the state."""
        result = RoundResult(collection=self._collect())
        if force_replay or self.clock() >= self.retry_at:
            self.replay(result)
        self._send_rules(result.collection, result)
        self._send_flows(result)
        self._save_state()
        return result

    # -- the spool -----------------------------------------------------------------------------

    def replay(self, result: RoundResult) -> bool:
        """Send the spooled requests oldest first; stop at the first that must wait. True when
        the spool is empty afterwards."""
        if self.config.dry_run:
            # The spool is only read in a dry run: print what it holds once.
            if not self._replayed_in_dry_run:
                for entry in self.spool.entries():
                    try:
                        self.transport.send(entry.load())
                    except (OSError, ValueError) as exc:
                        log.warning("spooled #%d is unreadable: %s", entry.seq, exc)
                self._replayed_in_dry_run = True
            return True
        for entry in self.spool.entries():
            try:
                request = entry.load()
            except (OSError, ValueError, KeyError) as exc:
                log.error("spooled #%d is unreadable (%s); moved to %s", entry.seq, exc,
                          self.spool.reject(entry))
                result.rejected += 1
                continue
            outcome = self.transport.send(request)
            if outcome.result == RETRY:
                self._schedule_retry(f"replay of #{entry.seq} {request.describe()}", outcome)
                return False
            self._replayed(entry, request, outcome, result)
        if self.backoff.failures:
            log.info("spool is empty; the server is reachable again")
        self.backoff.reset()
        return True

    def _replayed(self, entry: SpoolEntry, request: Request, outcome: Outcome,
                  result: RoundResult) -> None:
        if outcome.result == DELIVERED:
            self.spool.remove(entry)
            result.replayed += 1
            log.info("replayed #%d %s: %s", entry.seq, request.describe(), _answer(outcome))
            if request.kind == "heartbeat" and not outcome.body.get("known", True):
                # The server lacks what we think is delivered: the next round sends it again.
                self._forget_if_queued(request)
        else:
            target = self.spool.reject(entry)
            result.rejected += 1
            log.error("server rejected #%d %s (%s); not retried, moved to %s", entry.seq,
                      request.describe(), outcome.reason, target)
            self._forget_if_queued(request)

    def _schedule_retry(self, what: str, outcome: Outcome) -> None:
        delay = self.backoff.next_delay()
        self.retry_at = self.clock() + delay
        log.warning("%s failed (%s); next attempt in %.1fs", what, outcome.reason, delay)

    # -- new requests --------------------------------------------------------------------------

    def _send_rules(self, collection: Collection | None, result: RoundResult) -> None:
        if collection is None or not collection.dumps:
            log.warning("no dumps collected; nothing to send this round")
            return
        rules_hash = collection.rules_hash
        if self.queued_hash is not None and not self._snapshot_due(collection, rules_hash):
            heartbeat = heartbeat_request(self.config.host, time.time(), self.queued_hash)
            outcome = self.submit(heartbeat, result)
            if outcome.result != DELIVERED or outcome.body.get("known", True):
                return
            log.info("server does not know hash %s; sending the snapshot", self.queued_hash[:12])
        self.queued_rules_hash, self.queued_at = rules_hash, collection.collected_at
        self.submit(snapshot_request(self.config.host, collection.collected_at, collection.dumps),
                    result)

    def _snapshot_due(self, collection: Collection, rules_hash: str) -> bool:
        """Whether this round's dumps are news: the rules changed, or they did not but the
        counters did and the last snapshot is older than counters_every."""
        if rules_hash != self.queued_rules_hash:
            return True
        # A clock that stepped back makes the last snapshot's age unknown: send one.
        if self.queued_at is not None and (
                0 <= collection.collected_at - self.queued_at < self.config.counters_every):
            return False
        return collection.hash != self.queued_hash

    def _send_flows(self, result: RoundResult) -> None:
        for follower in self.followers:
            source = follower.flow_source
            for batch in follower.batches():
                request = flows_request(self.config.host, source.source, source.path, batch.text)
                if self.submit(request, result).result == FAILED:
                    break  # neither sent nor spooled: read these lines again next round
                follower.commit(batch)
                self._save_state()

    def submit(self, request: Request, result: RoundResult) -> Outcome:
        """Send a new request, or spool it while older ones wait or the server cannot take it.
        Returns the server's outcome, or one whose result is SPOOLED or FAILED (the spool could
        not be written)."""
        if request.kind == "snapshot":
            self.queued_hash = request.content_hash
        if len(self.spool) and not self.config.dry_run:
            return self._spool(request, result, "older requests are still spooled")
        outcome = self.transport.send(request)
        if outcome.result == RETRY:
            self._schedule_retry(f"sending {request.describe()}", outcome)
            return self._spool(request, result, outcome.reason)
        if outcome.result == DELIVERED:
            result.delivered += 1
            log.info("%s %s: %s", "printed" if self.config.dry_run else "sent",
                     request.describe(), _answer(outcome))
            return outcome
        result.rejected += 1
        self._forget_if_queued(request)
        try:
            target: Any = self.spool.reject_new(request)
        except OSError as exc:
            target = f"nowhere ({exc})"
        log.error("server rejected %s (%s); not retried, kept in %s", request.describe(),
                  outcome.reason, target)
        return outcome

    def _spool(self, request: Request, result: RoundResult, why: str) -> Outcome:
        try:
            seq = self.spool.add(request)
        except OSError as exc:
            result.failed += 1
            self._forget_if_queued(request)
            log.error("could not spool %s: %s%s", request.describe(), exc,
                      "; its lines stay in the flow log and are read again"
                      if request.kind == "flows" else "; collected again next round")
            return Outcome(FAILED, reason=str(exc))
        result.spooled += 1
        log.info("spooled #%d %s (%s)", seq, request.describe(), why)
        return Outcome(SPOOLED, reason=why)

    def _forget_if_queued(self, request: Request) -> None:
        if request.content_hash is not None and request.content_hash == self.queued_hash:
            self.queued_hash = None

    # -- state ---------------------------------------------------------------------------------

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable state %s: %s", self._state_path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _save_state(self) -> None:
        if self.config.dry_run:
            return
        state = {"snapshot_hash": self.queued_hash, "rules_hash": self.queued_rules_hash,
                 "collected_at": self.queued_at,
                 "flows": {f.flow_source.path: f.position.to_dict()
                           for f in self.followers if f.position is not None}}
        try:
            self.config.spool_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self._state_path, json.dumps(state, indent=1).encode("utf-8"))
        except OSError as exc:
            log.error("could not save state %s: %s", self._state_path, exc)


def _position(positions: Any, path: str) -> Position | None:
    """The saved position of a flow log, or None (never read, or the state is damaged)."""
    if not isinstance(positions, dict) or path not in positions:
        return None
    try:
        return Position.from_dict(positions[path])
    except (KeyError, TypeError, ValueError):
        log.warning("ignoring the damaged saved position of %s", path)
        return None


def _answer(outcome: Outcome) -> str:
    body: Mapping[str, Any] = outcome.body
    parts = [str(outcome.status) if outcome.status is not None else outcome.reason]
    for key in ("status", "snapshot", "known", "accepted", "written"):
        if key in body:
            parts.append(f"{key}={body[key]}")
    if body.get("warnings"):
        parts.append(f"warnings={len(body['warnings'])}")
    if body.get("bad_lines"):
        parts.append(f"bad_lines={len(body['bad_lines'])}")
    return " ".join(parts)
