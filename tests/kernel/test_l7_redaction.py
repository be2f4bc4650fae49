"""Request samples from real clients are stored redacted: no query string or credentials, no SQL literals."""
import subprocess

import pytest

from tests.helpers.l7 import samples_of, wait_for_samples
from tracer.protocols import describe


@pytest.mark.kernel
def test_http_sample_hides_query_and_authorization(capture, nginx):
    url = f"http://127.0.0.1:{nginx.port}/login?user=bob&password=secret"
    wait_for_samples(capture, nginx.port, ("server",), lambda: subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-H", "Authorization: Bearer abc", url], check=True, timeout=30))
    sample = samples_of(capture, nginx.port, "server")[0]
    assert b"password=secret" in sample.request and b"Bearer abc" in sample.request, "not the request sent"
    shown = describe(sample)
    assert (shown["operation"], shown["target"], shown["status"]) == ("GET", "/login", "404"), shown
    for name, value in shown.items():
        assert "secret" not in str(value) and "abc" not in str(value), f"{name} reveals: {value!r}"


@pytest.mark.kernel
def test_sql_sample_hides_literals(capture, postgres_port):
    psql = ["psql", "-h", "127.0.0.1", "-p", str(postgres_port), "-U", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    subprocess.run(psql + ["-c", "CREATE TABLE t (name text); INSERT INTO t VALUES ('alice')"],
                   check=True, capture_output=True, timeout=60)
    capture.collector.drain()   # drops the setup's sample
    select = psql + ["-c", "SELECT * FROM t WHERE name = 'alice'"]
    wait_for_samples(capture, postgres_port, ("server",),
                     lambda: subprocess.run(select, check=True, capture_output=True, timeout=60))
    shown = describe(samples_of(capture, postgres_port, "server")[0])
    assert (shown["operation"], shown["target"], shown["status"]) == \
        ("Query", "SELECT * FROM t WHERE name = ?", "ok"), shown
    assert "alice" not in shown["request"]


@pytest.mark.kernel
def test_mysql_sample_hides_literals(capture, mariadb):
    mariadb_client = ["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(mariadb.port), "-u", "root", "-e"]
    select = mariadb_client + ["SELECT * FROM mysql.db WHERE User = 'it\\'s alice'"]
    wait_for_samples(capture, mariadb.port, ("server",),
                     lambda: subprocess.run(select, check=True, capture_output=True, timeout=60))
    sample = samples_of(capture, mariadb.port, "server")[0]
    assert b"alice" in sample.request, "not the request sent"
    shown = describe(sample)
    assert (shown["operation"], shown["target"], shown["status"]) == \
        ("COM_QUERY", "SELECT * FROM mysql.db WHERE User = ?", "ok"), shown
    assert shown["parse_error"] is None and "alice" not in shown["request"], shown
