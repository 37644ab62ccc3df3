"""Personas shared by the web tests: hosts, their agent, an operator."""

from tests.webapp.inventory.personas import agent, node_01, node_02, oscar, oscar_client

__all__ = ["agent", "node_01", "node_02", "oscar", "oscar_client"]
