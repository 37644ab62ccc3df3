"""`segscope verify-audit`: check an audit export with no database and no server: the manifest
lists exactly the files there are, with their SHA-256, and the graph, drift, convergence and
tables computed again from the archived dumps at the archived time are the archived ones."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.bundle import BundleError
from collectors.errors import ParseError
from webapp.engine.audit.archive import (
    FORMAT,
    MANIFEST,
    ArchiveError,
    read_files,
    render_manifest,
    sha256_hex,
)
from webapp.engine.audit.contents import BUNDLE_DIR, DERIVED, derived_files

DIFFERENCES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one file of an export."""

    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def verify_files(files: Mapping[str, bytes]) -> list[Problem]:
    """Every problem of an export's files (by relative path); none when it is intact."""
    manifest, problems = _manifest(files)
    if manifest is None:
        return problems
    listed: Mapping[str, str] = manifest["files"]
    for path in sorted(set(files) - set(listed) - {MANIFEST}):
        problems.append(Problem(path, "not listed in the manifest"))
    for path, digest in sorted(listed.items()):
        if path not in files:
            problems.append(Problem(path, "listed in the manifest but missing"))
        elif sha256_hex(files[path]) != digest:
            problems.append(Problem(path, f"SHA-256 {sha256_hex(files[path])} differs from "
                                          f"the manifest's {digest}"))
    problems.extend(_recomputed(files, _moment(manifest["at"])))
    return problems


def _manifest(files: Mapping[str, bytes]) -> tuple[dict[str, Any] | None, list[Problem]]:
    if MANIFEST not in files:
        return None, [Problem(MANIFEST, "missing")]
    try:
        manifest = json.loads(files[MANIFEST])
        if manifest.get("format") != FORMAT:
            return None, [Problem(MANIFEST, f"format is not {FORMAT}")]
        _moment(manifest["at"])
        if not isinstance(manifest["files"], dict):
            raise TypeError("`files` is not an object")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, [Problem(MANIFEST, f"cannot be read: {exc}")]
    if render_manifest(manifest) != files[MANIFEST]:
        # Its own digest covers every field; the bytes must be those an export writes.
        return manifest, [Problem(MANIFEST, "its contents do not match its sha256, or it is "
                                            "not written as an export writes it")]
    return manifest, []


def _moment(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"`at` has no time zone: {text!r}")
    return at


def _recomputed(files: Mapping[str, bytes], at: datetime) -> list[Problem]:
    """The derived files computed again from the archived bundle, compared with the archived."""
    prefix = f"{BUNDLE_DIR}/"
    with tempfile.TemporaryDirectory(prefix="segscope-verify-") as tmp:
        root = Path(tmp) / BUNDLE_DIR
        root.mkdir()
        for path, data in files.items():
            if path.startswith(prefix):
                target = root / path[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        try:
            again = derived_files(root, at)
        except (BundleError, ParseError, ValueError) as exc:
            where = getattr(exc, "filename", None) or getattr(exc, "path", None) or BUNDLE_DIR
            return [Problem(str(where), f"the archived bundle cannot be analysed: {exc}")]
    problems = []
    for name in DERIVED:
        if name not in files:
            problems.append(Problem(name, "missing"))
        elif files[name] != again[name]:
            shown = "; ".join(_differences(name, files[name], again[name]))
            problems.append(Problem(name, "differs from what the archived dumps give: " + shown))
    return problems


def _differences(name: str, archived: bytes, recomputed: bytes) -> list[str]:
    if name.endswith(".json"):
        try:
            found = list(_json_differences(json.loads(archived), json.loads(recomputed), ""))
        except ValueError:
            return ["not JSON"]
        if found:
            extra = len(found) - DIFFERENCES_SHOWN
            return found[:DIFFERENCES_SHOWN] + ([f"and {extra} more"] if extra > 0 else [])
        return ["same values written differently"]
    old, new = archived.decode(errors="replace").splitlines(), \
        recomputed.decode(errors="replace").splitlines()
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            return [f"line {number}: archived {a!r}, recomputed {b!r}"]
    return [f"archived {len(old)} lines, recomputed {len(new)}"]


def _json_differences(archived: Any, recomputed: Any, path: str) -> Iterator[str]:
    if isinstance(archived, dict) and isinstance(recomputed, dict):
        for key in sorted(set(archived) | set(recomputed)):
            where = f"{path}.{key}" if path else str(key)
            if key not in recomputed:
                yield f"{where}: archived, not recomputed"
            elif key not in archived:
                yield f"{where}: recomputed, not archived"
            else:
                yield from _json_differences(archived[key], recomputed[key], where)
    elif isinstance(archived, list) and isinstance(recomputed, list):
        for index, (a, b) in enumerate(zip(archived, recomputed, strict=False)):
            yield from _json_differences(a, b, f"{path}[{index}]")
        if len(archived) != len(recomputed):
            yield f"{path}: {len(archived)} entries archived, {len(recomputed)} recomputed"
    elif archived != recomputed or type(archived) is not type(recomputed):
        yield f"{path}: archived {json.dumps(archived)}, recomputed {json.dumps(recomputed)}"


def add_audit_parser(commands: Any) -> None:
    """Register `segscope verify-audit` on the `segscope` argument parser."""
    verify = commands.add_parser(
        "verify-audit", help="check an audit export: manifest hashes, and the analyses "
                             "computed again from its dumps",
        description="Check an audit export (the .tar.gz, or the folder it unpacks to) with no "
                    "database: every file is in the manifest with its SHA-256 and none is "
                    "missing or extra, and the graph, drift, convergence and tables computed "
                    "again from the archived bundle at the archived time equal the archived "
                    "ones. Exit status 1 names each file that differs.")
    verify.add_argument("path", type=Path, metavar="DIR",
                        help="the unpacked export, or the archive file")
    verify.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    try:
        files = read_files(args.path)
    except ArchiveError as exc:
        raise ValueError(str(exc)) from None
    problems = verify_files(files)
    for problem in problems:
        print(f"FAILED {problem}")
    if problems:
        return 1
    manifest = json.loads(files[MANIFEST])
    graph = json.loads(files["graph.json"])
    drift = json.loads(files["drift.json"])
    print(f"OK {args.path}: {len(manifest['files'])} files match the manifest; at "
          f"{manifest['at']} the archived dumps give the archived {len(graph['edges'])} edges, "
          f"{len(drift['findings'])} drift findings and convergence")
    return 0
