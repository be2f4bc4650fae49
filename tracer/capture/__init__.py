"""The kernel side: what the kernel offers, the probes (probes/*.c) compiled and attached, and their maps and
ring buffer drained into plain records (records.py) for identity and the graph. docs/architecture.md maps
its modules.
"""
