"""Offline bundles (DESIGN.md section 4): their layout, read into values and written from them.

    DIR/inventory.yaml                           hosts and workloads (or inventory.json)
    DIR/intent.yaml  or  DIR/intent/<version>.yaml    intent versions, file name = version
    DIR/hosts/<host>/<UTC time>/<dump>           dump: iptables-save, ip6tables-save,
                                                 ipset-save, nft.json, conntrack.txt (other
                                                 names are kept as dumps nothing parses)
    DIR/flows/<host>[.<source>].<log|json|jsonl> flow logs that <host> observed

A time folder is an ISO 8601 UTC time ending in Z: `2026-11-26T03:00:05Z`, with a fraction
(`03:00:05.250000Z`) only when the time has one. A flow file's source is one of the agent's
flow sources (`ulogd2`, `kernel_log`, `conntrack`, `aws_vpc`, ...); without one the format is
detected from the content. Host names may hold dots: only a known source counts as one.

Pure Python and PyYAML; reading checks the layout, the inventory and the intents and raises
BundleError naming the file (and line where there is one); dumps and flows are parsed by
whoever ingests them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from collectors.agent.protocol import FLOW_SOURCES
from collectors.intent import IntentError
from collectors.inventory import Inventory, InventoryError, parse_inventory
from collectors.policies import AnyIntent, read_intent_document

DUMP_FILES = ("iptables-save", "ip6tables-save", "ipset-save", "nft.json", "conntrack.txt")
FLOW_EXTENSIONS = ("log", "json", "jsonl")
INVENTORY_FILES = ("inventory.yaml", "inventory.yml", "inventory.json")
INTENT_EXTENSIONS = (".yaml", ".yml", ".json")


class BundleError(ValueError):
    """A bundle that cannot be read: the file (relative to the bundle), line (0: the whole
    file) and reason."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")
        self.file, self.line, self.reason = file, line, reason


@dataclass(frozen=True, slots=True)
class SnapshotFiles:
    """One host's dumps at one time: a time folder."""

    host: str
    collected_at: datetime
    dumps: Mapping[str, str]

    @property
    def path(self) -> str:
        return f"hosts/{self.host}/{time_folder(self.collected_at)}"


@dataclass(frozen=True, slots=True)
class FlowFile:
    """A flow log and the host that observed it; source "auto" means detect the format."""

    host: str
    source: str
    text: str
    extension: str = "log"

    @property
    def path(self) -> str:
        return f"flows/{flow_file_name(self.host, self.source, self.extension)}"


@dataclass(frozen=True, slots=True)
class IntentFile:
    """An intent version: its text as written and what it says."""

    version: str
    path: str
    text: str
    intent: AnyIntent


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything a bundle holds, snapshots in (host, time) order."""

    inventory: Inventory | None = None
    inventory_text: str = ""
    intents: tuple[IntentFile, ...] = ()
    snapshots: tuple[SnapshotFiles, ...] = ()
    flows: tuple[FlowFile, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)


def time_folder(at: datetime) -> str:
    """The folder name of a time: UTC, `Z`, a fraction only when there is one."""
    if at.tzinfo is None:
        raise ValueError(f"{at} has no time zone")
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}"
    return text + "Z"


def parse_time_folder(name: str, path: str) -> datetime:
    """The time a folder name gives; raises BundleError for anything but a UTC time."""
    if not name.endswith("Z"):
        raise BundleError(path, 0, "a snapshot folder is named by its UTC time, e.g. "
                          "2026-11-26T03:00:05Z")
    try:
        at = datetime.fromisoformat(name[:-1] + "+00:00")
    except ValueError:
        raise BundleError(path, 0, f"not an ISO 8601 UTC time: {name!r}") from None
    return at


def flow_file_name(host: str, source: str, extension: str = "log") -> str:
    """`<host>.<source>.<ext>`, or `<host>.<ext>` for source "auto"."""
    if extension not in FLOW_EXTENSIONS:
        raise ValueError(f"flow file extension must be one of {FLOW_EXTENSIONS}")
    return f"{host}.{extension}" if source == "auto" else f"{host}.{source}.{extension}"


def parse_flow_file_name(name: str, path: str) -> tuple[str, str, str]:
    """(host, source, extension) of a flow file name; raises BundleError."""
    stem, _, extension = name.rpartition(".")
    if not stem or extension not in FLOW_EXTENSIONS:
        raise BundleError(path, 0, "a flow log is named <host>[.<source>].<ext>, ext one of "
                          f"{', '.join(FLOW_EXTENSIONS)}")
    host, _, source = stem.rpartition(".")
    if host and source in FLOW_SOURCES:
        return host, source, extension
    return stem, "auto", extension


def read_bundle(root: Path) -> Bundle:
    """Read and check a bundle directory; raises BundleError (file relative to `root`)."""
    if not root.is_dir():
        raise BundleError(str(root), 0, "not a directory")
    inventory, inventory_text = _read_inventory(root)
    snapshots = _read_snapshots(root)
    flows = _read_flows(root)
    hosts = {s.host for s in snapshots} | {f.host for f in flows}
    if inventory is not None:
        hosts |= inventory.host_names()
    return Bundle(inventory, inventory_text, _read_intents(root), snapshots, flows,
                  frozenset(hosts))


def _text(path: Path, relative: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(relative, 0, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BundleError(relative, 0, f"cannot read: {exc.strerror}") from None


def _visible(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def _read_inventory(root: Path) -> tuple[Inventory | None, str]:
    found = [name for name in INVENTORY_FILES if (root / name).is_file()]
    if len(found) > 1:
        raise BundleError(found[1], 0, f"a bundle has one inventory; {found[0]} is another")
    if not found:
        return None, ""
    text = _text(root / found[0], found[0])
    try:
        return parse_inventory(text, found[0]), text
    except InventoryError as exc:
        raise BundleError(found[0], _line_of(exc.reason), exc.path + ": " + exc.reason
                          if exc.path else exc.reason) from None


def _line_of(reason: str) -> int:
    # load_document names YAML/JSON syntax errors as "line N, column M: ..."
    words = reason.replace(",", " ").split()
    for word, number in zip(words, words[1:], strict=False):
        if word == "line" and number.isdigit():
            return int(number)
    return 0


def _read_intents(root: Path) -> tuple[IntentFile, ...]:
    files: list[tuple[str, Path]] = []
    for extension in INTENT_EXTENSIONS:
        if (root / f"intent{extension}").is_file():
            files.append(("intent", root / f"intent{extension}"))
    directory = root / "intent"
    if directory.is_dir():
        for path in _visible(directory):
            if path.suffix not in INTENT_EXTENSIONS or not path.is_file():
                raise BundleError(f"intent/{path.name}", 0, "intent versions are "
                                  f"<version>{'|'.join(INTENT_EXTENSIONS)} files")
            files.append((path.stem, path))
    versions: dict[str, IntentFile] = {}
    for version, path in files:
        relative = path.relative_to(root).as_posix()
        if version in versions:
            raise BundleError(relative, 0, f"intent version {version!r} is given twice")
        text = _text(path, relative)
        try:
            intent = read_intent_document(text, relative, version)
        except InventoryError as exc:  # YAML/JSON syntax, from the shared loader
            raise BundleError(relative, _line_of(exc.reason), exc.reason) from None
        except IntentError as exc:
            raise BundleError(relative, 0, f"{exc.path}: {exc.reason}") from None
        versions[version] = IntentFile(version, relative, text, intent)
    return tuple(versions[v] for v in sorted(versions))


def _read_snapshots(root: Path) -> tuple[SnapshotFiles, ...]:
    hosts_dir = root / "hosts"
    if not hosts_dir.is_dir():
        return ()
    snapshots = []
    for host_dir in _visible(hosts_dir):
        if not host_dir.is_dir():
            raise BundleError(f"hosts/{host_dir.name}", 0, "expected a folder per host")
        for folder in _visible(host_dir):
            relative = f"hosts/{host_dir.name}/{folder.name}"
            if not folder.is_dir():
                raise BundleError(relative, 0, "expected a folder per snapshot time")
            collected_at = parse_time_folder(folder.name, relative)
            dumps = {}
            for dump in _visible(folder):
                if not dump.is_file():
                    raise BundleError(f"{relative}/{dump.name}", 0, "a snapshot folder holds "
                                      f"dump files ({', '.join(DUMP_FILES)})")
                # Other names are dumps too: the service keeps them with a warning, as the API
                # does, and they count in the content hash.
                dumps[dump.name] = _text(dump, f"{relative}/{dump.name}")
            if not dumps:
                raise BundleError(relative, 0, "empty snapshot folder")
            snapshots.append(SnapshotFiles(host_dir.name, collected_at, dumps))
    return tuple(sorted(snapshots, key=lambda s: (s.host, s.collected_at)))


def _read_flows(root: Path) -> tuple[FlowFile, ...]:
    directory = root / "flows"
    if not directory.is_dir():
        return ()
    flows = []
    for path in _visible(directory):
        relative = f"flows/{path.name}"
        host, source, extension = parse_flow_file_name(path.name, relative)
        flows.append(FlowFile(host, source, _text(path, relative), extension))
    return tuple(flows)


def _is_file_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\0" not in name


def inventory_yaml(document: Mapping[str, Any]) -> str:
    """An inventory document as Segscope YAML: one flow-style mapping a host or workload."""
    lines = []
    for key in ("hosts", "workloads"):
        if key in document:
            # `hosts:` alone would read back as null, not as an empty list.
            lines.append(f"{key}:" if document[key] else f"{key}: []")
            for item in document[key]:
                text = yaml.safe_dump(item, default_flow_style=True, sort_keys=False,
                                      width=1 << 16).strip()
                lines.append(f"  - {text}")
    return "\n".join(lines) + "\n"


def write_bundle(root: Path, *, inventory_text: str = "", intents: Mapping[str, str] | None = None,
                 snapshots: Iterable[SnapshotFiles] = (),
                 flows: Iterable[FlowFile] = ()) -> list[str]:
    """Write a bundle into `root`, which must not exist or be empty; returns the files written
    (relative). Everything is written beside it first and moved into place at the end, so that
    a failure leaves no half bundle."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BundleError(str(root), 0, "exists and is not an empty directory")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    files: dict[str, str] = {}
    try:
        if inventory_text:
            files["inventory.yaml"] = inventory_text
        for version, text in (intents or {}).items():
            files[f"intent/{version}.yaml"] = text
        for snapshot in snapshots:
            for name, text in snapshot.dumps.items():
                if not _is_file_name(name):
                    raise BundleError(f"{snapshot.path}/{name}", 0, "a dump name that cannot "
                                      "be a file name")
                files[f"{snapshot.path}/{name}"] = text
        for flow in flows:
            if flow.path in files:
                raise BundleError(flow.path, 0, "two flow logs would share this name")
            files[flow.path] = flow.text
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        if root.exists():
            root.rmdir()
        os.replace(staging, root)
        os.chmod(root, 0o755)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(files)
