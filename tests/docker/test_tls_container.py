"""TLS inside a container: nginx with its own copy of libssl (a file the host does not map, at a path that exists
only inside the container) is found through /proc/<pid>/root, gets the uprobes, and its HTTPS requests from a
host curl are counted exactly at the container's end."""
import os
import shutil
import tempfile

import pytest

from tests.helpers.l7 import server_counts
from tests.helpers.servers import NGINX, free_port, nginx_conf_in_container, self_signed_certificate
from tests.helpers.tls import curl_https, wait_tls_attached
from tracer.capture.tls_libraries import libraries_in_maps

HOST_LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"


@pytest.fixture
def nginx_files():
    """A directory for the container's /conf: nginx.conf, the certificate and a private copy of libssl."""
    base = tempfile.mkdtemp(prefix="tls-container-nginx-")
    try:
        os.chmod(base, 0o755)
        os.makedirs(f"{base}/lib")
        os.makedirs(f"{base}/empty")
        shutil.copy(os.path.realpath(HOST_LIBSSL), f"{base}/lib/libssl.so.3")   # another inode than the host's
        with self_signed_certificate(prefix="tls-cert-") as certificate:
            shutil.copy(certificate.cert, f"{base}/cert.pem")
            shutil.copy(certificate.key, f"{base}/key.pem")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.kernel
def test_https_to_a_container_with_its_own_libssl_counts_exactly(capture, docker_env, nginx_files):
    port = free_port()
    tls = " ssl;\n        ssl_certificate /conf/cert.pem;\n        ssl_certificate_key /conf/key.pem"
    with open(f"{nginx_files}/nginx.conf", "w") as f:
        f.write(nginx_conf_in_container("/conf", port, tls))
    server = docker_env.run("tls-nginx", "sh", "-c", f"LD_LIBRARY_PATH=/conf/lib exec {NGINX} -p /conf "
                            "-c /conf/nginx.conf -e /conf/error.log", binds=(f"{nginx_files}:/conf",))
    docker_env.wait_listening(server, port)
    with open(f"/proc/{server.pid}/maps") as f:
        mapped = [path for _, _, path in libraries_in_maps(f.read())]
    assert mapped == ["/conf/lib/libssl.so.3"], mapped
    wait_tls_attached(capture, server.pid)

    statuses = [status for status, _ in curl_https(port, [f"/ok/{i}" for i in range(12)] + ["/missing"] * 3,
                                                   f"{nginx_files}/cert.pem", address=server.ip)]
    want = {"200": 12, "404": 3}
    assert {s: statuses.count(s) for s in want} == want
    capture.wait_for(lambda c: server_counts(c, port, "http") == want, what=f"{want} at the container's end")
