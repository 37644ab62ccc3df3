"""Analysis results, each tied to what it was computed from, and per-host analysis state."""

from webapp.analysis.models.convergence import GenerationHost, GenerationResult
from webapp.analysis.models.drift import DriftFinding
from webapp.analysis.models.graph import GraphEdge
from webapp.analysis.models.state import AnalysisState

__all__ = ["AnalysisState", "DriftFinding", "GenerationHost", "GenerationResult", "GraphEdge"]
