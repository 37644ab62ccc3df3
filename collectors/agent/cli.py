"""`segscope agent`: the command line around runner.Agent."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import re
import signal
import socket
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, TextIO

from collectors.agent.collect import DEFAULT_COMMAND_TIMEOUT
from collectors.agent.follow import FlowSource
from collectors.agent.runner import Agent, AgentConfig
from collectors.agent.transport import DEFAULT_HTTP_TIMEOUT, DryRunTransport, HttpTransport

log = logging.getLogger("segscope.agent")

DEFAULT_SPOOL_DIR = "/var/lib/segscope/spool"
EXIT_OK, EXIT_UNDELIVERED, EXIT_USAGE = 0, 1, 2
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
DESCRIPTION = (
    "Collect this host's iptables, ip6tables, ipset, nftables and conntrack dumps (whichever tools"
    " are installed) and flow-log lines, and push them to a Segscope server: a snapshot when the"
    " rules changed (or, for new counters, every --counters-every), a heartbeat otherwise. While"
    " the server is unreachable, requests are spooled to disk and replayed in order with"
    " exponential backoff.")


def parse_duration(text: str) -> float:
    """Seconds from '10s', '500ms', '2m', '1h' or a plain number of seconds."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (e.g. 10s, 2m)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _megabytes(text: str) -> int:
    if not text.strip().isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number of megabytes: {text!r}")
    return int(text)


def _flow_source(text: str) -> FlowSource:
    try:
        return FlowSource.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent's options, on its own parser or on the `segscope agent` subparser."""
    parser.add_argument("--server", required=True, metavar="URL",
                        help="the Segscope server, e.g. https://segscope.example.org")
    parser.add_argument("--token-file", type=Path, metavar="FILE",
                        help="file holding this host's agent token (required unless --dry-run)")
    parser.add_argument("--host", default=socket.gethostname(), metavar="NAME",
                        help="the host name the token belongs to (default: %(default)s)")
    parser.add_argument("--interval", type=parse_duration, default=10.0, metavar="DURATION",
                        help="time between rounds: 10s, 2m, 500ms (default 10s)")
    parser.add_argument("--counters-every", type=parse_duration, default=300.0,
                        metavar="DURATION",
                        help="while the rules stay the same, send a snapshot for its new counters"
                             " at most this often; heartbeats in between (default 5m)")
    parser.add_argument("--once", action="store_true",
                        help="one round, then exit: 0 if everything was delivered or spooled")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the requests as JSON lines instead of sending them; writes "
                             "nothing")
    parser.add_argument("--spool-dir", type=Path, default=Path(DEFAULT_SPOOL_DIR), metavar="DIR",
                        help="spool and state directory (default %(default)s)")
    parser.add_argument("--spool-max-mb", type=_megabytes, default=256, metavar="MB",
                        help="spool at most this much; past it, flow-log lines and dumps wait"
                             " on the host and are read again later (default %(default)s)")
    parser.add_argument("--flow-log", type=_flow_source, action="append", default=[],
                        metavar="SOURCE:PATH",
                        help="follow a flow-log file, e.g. ulogd2:/var/log/ulogd.json or "
                             "kernel_log:/var/log/kern.log; repeatable")
    parser.add_argument("--netns", metavar="NAME",
                        help="collect inside `ip netns exec NAME` (lab hosts)")
    parser.add_argument("--timeout", type=parse_duration, default=DEFAULT_HTTP_TIMEOUT,
                        metavar="DURATION", help="HTTP request timeout (default %(default)ss)")
    parser.add_argument("--command-timeout", type=parse_duration,
                        default=DEFAULT_COMMAND_TIMEOUT, metavar="DURATION",
                        help="time a dump command may take (default %(default)ss)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logs; whole dumps in --dry-run output")


def add_agent_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `agent` to a `segscope` subparsers object; its handler returns the exit status."""
    parser = subparsers.add_parser("agent", help="push this host's rule dumps and flow logs",
                                   description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=run_agent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m collectors.agent ...`: the same as `segscope agent ...`."""
    parser = argparse.ArgumentParser(prog="segscope agent", description=DESCRIPTION)
    add_arguments(parser)
    return run_agent(parser.parse_args(argv))


def run_agent(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the agent as `args` say; return the exit status."""
    _configure_logging(args.verbose)
    out = out if out is not None else sys.stdout
    if not re.match(r"^https?://[^/]", args.server):
        log.error("--server must be an http:// or https:// URL, got %r", args.server)
        return EXIT_USAGE
    config = AgentConfig(host=args.host, spool_dir=args.spool_dir,
                         flow_sources=tuple(args.flow_log), netns=args.netns,
                         interval=args.interval, counters_every=args.counters_every,
                         command_timeout=args.command_timeout, dry_run=args.dry_run,
                         spool_max_bytes=args.spool_max_mb * 1024 * 1024)
    if args.dry_run:
        agent = Agent(config, DryRunTransport(args.server, out, verbose=args.verbose))
        return _run(agent, args.once)
    try:
        token = read_token(args.token_file)
        lock = _lock(args.spool_dir)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    with lock:
        agent = Agent(config, HttpTransport(args.server, token, timeout=args.timeout))
        return _run(agent, args.once)


def _run(agent: Agent, once: bool) -> int:
    if once:
        try:
            result = agent.run_round(force_replay=True)
        except OSError as exc:
            log.error("round failed: %s", exc)
            return EXIT_UNDELIVERED
        log.info("round done: %d sent, %d replayed, %d spooled (%d waiting), %d rejected, %d "
                 "failed", result.delivered, result.replayed, result.spooled, len(agent.spool),
                 result.rejected, result.failed)
        return EXIT_OK if result.ok else EXIT_UNDELIVERED
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("agent for %s started: every %gs, spool %s", agent.config.host,
             agent.config.interval, agent.config.spool_dir)
    agent.run_forever(stop)
    log.info("agent stopped; %d requests spooled", len(agent.spool))
    return EXIT_OK


def read_token(path: Path | None) -> str:
    """The agent token from its file, whitespace stripped; raises ValueError when unusable."""
    if path is None:
        raise ValueError("--token-file is required (unless --dry-run)")
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ValueError(f"token file {path} is empty")
    if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token file %s is readable by other users; chmod 600 it", path)
    return token


def _lock(spool_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the spool directory, so that two agents never share it."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    handle = open(spool_dir / ".lock", "w")  # closed by the caller's `with`
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(f"another agent is using {spool_dir}") from None
    return handle


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
