"""TLS test helpers: curl over HTTPS, and waiting for the uprobes to be on a server's OpenSSL library."""
from __future__ import annotations

import subprocess

from tracer.capture.tls_libraries import libraries_in_maps


def curl_https(port: int, paths: list[str], cacert: str, address: str = "127.0.0.1") -> list[tuple[str, int]]:
    """One curl process for all paths (it keeps its connection alive), to a server whose certificate names
    127.0.0.1, listening at address; (status, connections made) per path."""
    urls = []
    for path in paths:
        urls += [f"https://127.0.0.1:{port}{path}", "-o", "/dev/null"]
    result = subprocess.run(["curl", "-sS", "--cacert", cacert, "--connect-to", f"127.0.0.1:{port}:{address}:{port}",
                             "-w", "%{http_code} %{num_connects}\\n"] + urls,
                            check=True, capture_output=True, text=True, timeout=120)
    return [(status, int(connects)) for status, connects in (line.split() for line in result.stdout.splitlines())]


def wait_tls_attached(capture, pid: int) -> None:
    """Until every libssl file that process pid maps has the collector's uprobes (the collector looks for new
    libraries at each drain)."""
    with open(f"/proc/{pid}/maps") as f:
        wanted = {(device, inode) for device, inode, _ in libraries_in_maps(f.read())}
    assert wanted, f"process {pid} maps no libssl"
    capture.wait_for(lambda c: wanted <= {(lib.device, lib.inode) for lib in c.collector.tls_libraries},
                     what=f"uprobes on the libssl of process {pid}")
