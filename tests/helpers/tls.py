"""Waiting for the TLS uprobes to be on a server's OpenSSL library."""
from __future__ import annotations

from tracer.tls_libraries import libraries_in_maps


def wait_tls_attached(capture, pid: int) -> None:
    """Until every libssl file that process pid maps has the collector's uprobes (the collector looks for new
    libraries at each drain)."""
    with open(f"/proc/{pid}/maps") as f:
        wanted = {(device, inode) for device, inode, _ in libraries_in_maps(f.read())}
    assert wanted, f"process {pid} maps no libssl"
    capture.wait_for(lambda c: wanted <= {(lib.device, lib.inode) for lib in c.collector.tls_libraries},
                     what=f"uprobes on the libssl of process {pid}")
