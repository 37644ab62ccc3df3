"""Inventory models: hosts and their agent tokens, workloads, segments."""

from webapp.inventory.models.hosts import AgentToken, Host
from webapp.inventory.models.workloads import Segment, Workload

__all__ = ["AgentToken", "Host", "Segment", "Workload"]
