"""PostgreSQL requests classified in the kernel: exact counts per SQLSTATE at both ends of psql's connection."""
import subprocess

import pytest

from tests.helpers.l7 import request_counts


@pytest.mark.kernel
def test_psql_outcomes_exact(capture, postgres_port):
    script = "select 1;\n" * 30 + "selec 1;\n" * 5 + "select * from no_such_table;\n" * 3
    result = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(postgres_port), "-U", "postgres", "-X", "-q"],
                            input=script, text=True, capture_output=True, timeout=60)
    assert result.stderr.count("syntax error") == 5 and result.stderr.count("does not exist") == 3
    want = {"ok": 30, "42601": 5, "42P01": 3}
    capture.wait_for(lambda c: request_counts(c, postgres_port, "client", "postgres") == want
                     and request_counts(c, postgres_port, "server", "postgres") == want,
                     what=f"{want} at both ends")
