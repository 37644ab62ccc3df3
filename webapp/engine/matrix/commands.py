"""The `segscope service-matrix` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from webapp.engine.matrix.service import CHAINS, DEFAULT_SPORT, MatrixRequest, service_matrix


def add_service_matrix_parser(commands: argparse._SubParsersAction) -> None:
    """Register `service-matrix` on the segscope command."""
    parser = commands.add_parser(
        "service-matrix", help="address classes and who may connect to whom, as fffuu computes",
        description="Partition the address space into classes a chain treats alike for one "
                    "protocol and destination port, and list which class may open a connection "
                    "to which (docs/analysis.md, 'Service matrix').")
    parser.add_argument("--iptables-save", type=Path, metavar="FILE", help="IPv4 rules")
    parser.add_argument("--ip6tables-save", type=Path, metavar="FILE", help="IPv6 rules")
    parser.add_argument("--ipset-save", type=Path, metavar="FILE", help="output of ipset save")
    parser.add_argument("--table", default="filter")
    parser.add_argument("--chain", required=True, type=str.upper, choices=CHAINS)
    parser.add_argument("--proto", required=True)
    parser.add_argument("--dport", required=True, type=int)
    parser.add_argument("--sport", type=int, default=DEFAULT_SPORT,
                        help=f"source port (default {DEFAULT_SPORT}, as fffuu)")
    parser.add_argument("--ipassmt", type=Path, metavar="FILE",
                        help="interface assumption in fffuu's format (default: lo = loopback)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=_service_matrix)


def _read(path: Path | None) -> str | None:
    return None if path is None else path.read_text(encoding="utf-8", errors="replace")


def _service_matrix(args: argparse.Namespace) -> int:
    request = MatrixRequest(args.chain, args.proto, args.dport, args.sport, args.table,
                            _read(args.ipassmt))
    names = tuple(str(p) if p else "-" for p in (args.iptables_save, args.ip6tables_save,
                                                 args.ipset_save))
    matrix = service_matrix(request, _read(args.iptables_save), _read(args.ip6tables_save),
                            _read(args.ipset_save), names)  # type: ignore[arg-type]
    print(json.dumps(matrix.to_dict(), indent=2) if args.json else str(matrix))
    return 0
