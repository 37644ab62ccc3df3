"""Flows models: aggregated flow records and the batches they arrived in."""

from webapp.flows.models.records import FlowBatch, FlowRecord

__all__ = ["FlowBatch", "FlowRecord"]
