"""Intuition: a host agent that maps the traffic between Docker services from eBPF."""
__version__ = "0.1.0"
