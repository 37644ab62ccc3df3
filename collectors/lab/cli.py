"""`segscope lab`: a fleet of hosts in network namespaces, its control plane, traffic and
recordings (docs/lab.md). Needs root, iproute2, iptables, ipset, ulogd2 and ulogd2-json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from collectors.lab import fleet, session
from collectors.lab.control import ApplyResult
from collectors.lab.netns import LabError
from collectors.lab.traffic import DEFAULT_TIMEOUT

DEFAULT_STATE_DIR = Path("/tmp/segscope-lab")
EXIT_OK, EXIT_FAILED, EXIT_UNEXPECTED = 0, 1, 3
DESCRIPTION = (
    "Build a fleet of Linux hosts in network namespaces (prefix ssl-), each with workloads "
    "behind cali* veths, roll an intent out to it with the distributed-ACL control plane, make "
    "real connections, and record the result as a bundle for `manage.py ingest`.")


def _say(text: str) -> None:
    print(text, flush=True)


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR",
                        help="where the lab keeps its state (default %(default)s)")


def _rollout_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--intent", type=Path, required=True, metavar="FILE",
                        help="Segscope intent YAML; its version is the file name")
    parser.add_argument("--delay-ms", type=int, default=0, metavar="D",
                        help="pause between hosts while rolling out (default 0)")
    parser.add_argument("--fail-host", action="append", default=[], metavar="NAME",
                        help="this host fails to apply and keeps its old rules; repeatable")


def add_lab_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `lab` to a `segscope` subparsers object; its handlers return the exit status."""
    parser = subparsers.add_parser("lab", help="a fleet of hosts in network namespaces",
                                   description=DESCRIPTION)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The lab's subcommands, on its own parser or on the `segscope lab` subparser."""
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    up = commands.add_parser("up", help="build the fleet and roll the intent out")
    up.add_argument("--hosts", type=int, default=3, metavar="N", help="hosts (default 3)")
    up.add_argument("--workloads", type=int, default=4, metavar="M",
                    help="workloads per host (default 4)")
    _rollout_options(up)
    up.add_argument("--flat", action="store_true",
                    help="one rule per peer address instead of ipsets (flat ACLs)")
    up.add_argument("--labels-file", type=Path, metavar="FILE",
                    help="YAML list of label mappings given to workloads in turn (default: "
                         "app=payments/ledger/web/cache, env=prod)")
    up.add_argument("--tag", metavar="TAG",
                    help="namespace tag, 1-12 lowercase letters or digits (default: random)")
    _state_dir(up)
    up.set_defaults(handler=_guarded(_up))

    apply = commands.add_parser("apply", help="roll a changed intent out, host by host")
    _rollout_options(apply)
    _state_dir(apply)
    apply.set_defaults(handler=_guarded(_apply))

    status = commands.add_parser("status", help="hosts, workloads and rule counts per host")
    _state_dir(status)
    status.set_defaults(handler=_guarded(_status))

    traffic = commands.add_parser("traffic", help="real TCP connections, allowed and blocked")
    traffic.add_argument("--rounds", type=int, default=1, metavar="K", help="(default 1)")
    traffic.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                         help="how long a connection waits for an answer (default "
                              "%(default)s)")
    _state_dir(traffic)
    traffic.set_defaults(handler=_guarded(_traffic))

    down = commands.add_parser("down", help="remove every namespace, daemon and state file")
    down.add_argument("--tag", metavar="TAG",
                      help="without a state directory: remove the namespaces of this lab")
    _state_dir(down)
    down.set_defaults(handler=_guarded(_down))

    record = commands.add_parser(
        "record", help="record a demo bundle: 3 hosts x 4 workloads, a straggler, traffic")
    record.add_argument("directory", type=Path, metavar="DIR",
                        help="where to write the bundle (must not exist or be empty)")
    record.add_argument("--timeout", type=float, default=0.8, metavar="SECONDS",
                        help="connection timeout; below 1 s each blocked connection logs one "
                             "SYN (default %(default)s)")
    _state_dir(record)
    record.set_defaults(handler=_guarded(_record))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace],
                                                                      int]:
    """The handler, with lab failures printed as one line and exit status 1."""
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (LabError, OSError) as exc:
            print(f"segscope lab: {exc}", file=sys.stderr)
            return EXIT_FAILED
    return run


def _report_results(results: Sequence[ApplyResult]) -> int:
    return EXIT_OK if all(r.applied for r in results) else EXIT_FAILED


def _up(args: argparse.Namespace) -> int:
    labels = (session.load_labels(args.labels_file) if args.labels_file
              else fleet.DEMO_LABELS)
    lab = session.FleetLab.up(
        args.state_dir, hosts=args.hosts, workloads=args.workloads, intent_path=args.intent,
        use_sets=not args.flat, delay=args.delay_ms / 1000, failing=args.fail_host,
        labels=labels, tag=args.tag, report=_say)
    _say(f"lab {lab.plan.tag} is up; inventory: {lab.state_dir / 'inventory.yaml'}")
    return EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    results = session.FleetLab.open(args.state_dir).apply(
        args.intent, delay=args.delay_ms / 1000, failing=args.fail_host, report=_say)
    return _report_results(results)


def _status(args: argparse.Namespace) -> int:
    for line in session.FleetLab.open(args.state_dir).status_lines():
        _say(line)
    return EXIT_OK


def _traffic(args: argparse.Namespace) -> int:
    result = session.FleetLab.open(args.state_dir).traffic(args.rounds, timeout=args.timeout,
                                                           report=_say)
    unexpected = [c for c in result.connections if not c.as_expected]
    return EXIT_UNEXPECTED if unexpected or result.unlogged else EXIT_OK


def _down(args: argparse.Namespace) -> int:
    removed = session.down(args.state_dir, args.tag)
    _say(f"removed {len(removed)} namespaces")
    return EXIT_OK


def _record(args: argparse.Namespace) -> int:
    from collectors.lab.record import record

    summary = record(args.directory, args.state_dir, timeout=args.timeout, report=_say)
    _say(str(summary))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m collectors.lab ...`: the same as `segscope lab ...`."""
    parser = argparse.ArgumentParser(prog="segscope lab", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args))
