"""What-if and fix on the stored fleet: the engine's what_if and propose_fix over the database
timeline, as `segscope whatif` and `segscope fix` run them over a bundle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webapp.analysis.timeline import DatabaseAnalysis, load_database_timeline
from webapp.engine.analysis.changes import parse_changes
from webapp.engine.analysis.fix import propose_fix
from webapp.engine.analysis.whatif import what_if


def stored_whatif(change: str, files: Mapping[str, str] | None = None,
                  days: float = 7) -> dict[str, Any]:
    """A change's effect on the newest stored state; ChangeError names a malformed line."""
    changes = parse_changes(change, "change", files)
    return what_if(DatabaseAnalysis(load_database_timeline()), changes, days)


def stored_fix(src: str, dst: str, proto: str, dport: int | None) -> dict[str, Any]:
    """The rules that block a flow on the newest stored state and the candidate fixes."""
    return propose_fix(DatabaseAnalysis(load_database_timeline()), src, dst, proto, dport)
