"""The auditors' export of the stored fleet at a time: the bundle `export_bundle --history`
writes, the analyses of that bundle, and the manifest, as webapp.engine.audit lays them out."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.intent import format_moment
from webapp.audit.models import AuditEvent
from webapp.audit.services import record_event
from webapp.engine.audit.archive import MANIFEST, AuditArchive, build_archive
from webapp.engine.audit.contents import bundle_files, derived_files
from webapp.rules.bundle import export_bundle


def export_audit(at: datetime, user: Any = None, via: str = "api") -> AuditArchive:
    """The audit archive of the fleet at `at`: every snapshot, workload, intent version and
    flow record up to it as a bundle, the graph, drift and convergence computed from that
    bundle, and the manifest; recorded in the audit log with the manifest's SHA-256. Raises
    collectors.bundle.BundleError when the stored data cannot be written or analysed."""
    with tempfile.TemporaryDirectory(prefix="segscope-audit-") as tmp:
        bundle = Path(tmp) / "bundle"
        # The history, not only the newest snapshots: drift's `since`, unused rules and
        # convergence read the snapshots before `at`.
        export_bundle(bundle, at, history=True)
        contents = {**bundle_files(bundle), **derived_files(bundle, at)}
    archive = build_archive(at, contents)
    record_event(user, AuditEvent.Action.EXPORT, at=format_moment(at), via=via,
                 files=len(archive.files),
                 manifest_sha256=hashlib.sha256(archive.files[MANIFEST]).hexdigest())
    return archive
