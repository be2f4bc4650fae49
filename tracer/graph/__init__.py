"""The service graph: services, the edges between them, rates, history, and what the map and the API show."""
from .edge import OTHER, EdgeKey, Traffic
from .graph import Graph
from .view import INTERNET, EdgeView, GraphView, NodeView, Notice

__all__ = ["Graph", "EdgeKey", "Traffic", "OTHER", "INTERNET", "GraphView", "EdgeView", "NodeView", "Notice"]
