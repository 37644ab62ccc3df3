"""The service matrix of a stored snapshot: one call into the engine."""

from __future__ import annotations

from webapp.analysis.services import NoSnapshot
from webapp.engine.matrix.partition import ServiceMatrix
from webapp.engine.matrix.service import MatrixRequest, service_matrix
from webapp.inventory.models import Host
from webapp.rules.models import Snapshot


def snapshot_service_matrix(host: Host, request: MatrixRequest,
                            snapshot: Snapshot | None = None) -> ServiceMatrix:
    """Classes and edges of a host's snapshot (default: the latest) for one chain and port."""
    if snapshot is None:
        snapshot = host.snapshots.order_by("-collected_at", "-id").first()
        if snapshot is None:
            raise NoSnapshot(f"host {host.name} has sent no rules yet")
    dumps = snapshot.dumps
    if not (dumps.get("iptables-save") or dumps.get("ip6tables-save")):
        raise NoSnapshot(f"snapshot {snapshot.pk} of {host.name} has no iptables dumps")
    return service_matrix(request, iptables=dumps.get("iptables-save"),
                          ip6tables=dumps.get("ip6tables-save"), ipset=dumps.get("ipset-save"))
