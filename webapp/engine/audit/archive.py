"""The audit archive's manifest, and the archive itself as a .tar.gz that is the same bytes for
the same contents: entries sorted, fixed times, owners and modes, relative paths only."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from collectors.intent import format_moment

FORMAT = "segscope-audit/1"
MANIFEST = "manifest.json"


class ArchiveError(ValueError):
    """An archive or directory that cannot be read as an audit export."""


def generator_version() -> str:
    """`segscope <version>` of the installed package."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"segscope {version('segscope')}"
    except PackageNotFoundError:
        return "segscope (not installed)"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_body(at: datetime, files: Mapping[str, bytes], generated_by: str) -> dict[str, Any]:
    """What the manifest states, before its own digest: format, time, generator, and the
    SHA-256 of every other file by path."""
    return {"format": FORMAT, "at": format_moment(at), "generated_by": generated_by,
            "files": {path: sha256_hex(files[path]) for path in sorted(files)}}


def manifest_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 over the manifest's canonical JSON without `sha256` (so that editing any field
    of the manifest shows)."""
    rest = {k: v for k, v in body.items() if k != "sha256"}
    return sha256_hex(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode("utf-8"))


def render_manifest(body: Mapping[str, Any]) -> bytes:
    """The manifest file: its fields, then `sha256`, indented as the other JSON files."""
    document = {**{k: v for k, v in body.items() if k != "sha256"},
                "sha256": manifest_digest(body)}
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def archive_name(at: datetime) -> str:
    """The archive's top folder, and its file name without `.tar.gz`."""
    stamp = format_moment(at).replace("-", "").replace(":", "").replace(".", "_")
    return f"segscope-audit-{stamp}"


@dataclass(frozen=True, slots=True)
class AuditArchive:
    """Every file of an audit export (the manifest included) and the time it is of."""

    at: datetime
    files: Mapping[str, bytes]

    @property
    def name(self) -> str:
        return archive_name(self.at)

    def tar_gz(self) -> bytes:
        """The files under `<name>/`, sorted, each with mode 0644, owner 0, and the export's
        time as mtime; gzip without a name or a time of its own."""
        mtime = int(self.at.timestamp())
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.files):
                data = self.files[path]
                info = tarfile.TarInfo(f"{self.name}/{path}")
                info.size, info.mtime, info.mode = len(data), mtime, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as stream:
            stream.write(raw.getvalue())
        return out.getvalue()

    def write_tree(self, root: Path) -> None:
        """The files under `root`, which must not exist or be empty."""
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ArchiveError(f"{root}: exists and is not an empty directory")
        for path, data in self.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def build_archive(at: datetime, contents: Mapping[str, bytes],
                  generated_by: str | None = None) -> AuditArchive:
    """The archive of these files, with their manifest."""
    body = manifest_body(at, contents, generated_by or generator_version())
    return AuditArchive(at, {**contents, MANIFEST: render_manifest(body)})


def read_files(path: Path) -> dict[str, bytes]:
    """Every file of an unpacked export (the folder holding manifest.json, or the one folder
    inside it that does) or of a .tar.gz export, by relative path."""
    if path.is_file():
        return _read_tar(path)
    if not path.is_dir():
        raise ArchiveError(f"{path}: no such file or directory")
    root = path
    if not (root / MANIFEST).is_file():
        inner = [p for p in path.iterdir() if p.is_dir() and (p / MANIFEST).is_file()]
        if len(inner) == 1:
            root = inner[0]
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read_tar(path: Path) -> dict[str, bytes]:
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"{path}: not a tar archive: {exc}") from None
    files: dict[str, bytes] = {}
    with tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise ArchiveError(f"{path}: {member.name}: a path outside the archive")
            if member.isdir():
                continue
            if not member.isfile():
                raise ArchiveError(f"{path}: {member.name}: not a regular file")
            stream = tar.extractfile(member)
            assert stream is not None
            files[name.as_posix()] = stream.read()
    tops = {p.split("/", 1)[0] for p in files}
    if len(tops) == 1 and all("/" in p for p in files):
        files = {p.split("/", 1)[1]: data for p, data in files.items()}
    return files
