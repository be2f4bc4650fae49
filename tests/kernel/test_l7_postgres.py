"""PostgreSQL requests classified in the kernel: exact counts per SQLSTATE at both ends of psql's connection."""
import subprocess

import pytest

from tests.helpers.servers import postgres_port  # noqa: F401 (fixture)


def request_counts(capture, port: int, role: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, statuses in capture.requests.items():
        if key.server_port == port and key.role == role:
            for (protocol, status), counts in statuses.items():
                assert protocol == "postgres"
                out[status] = out.get(status, 0) + counts.count
    return out


@pytest.mark.kernel
def test_psql_outcomes_exact(capture, postgres_port):  # noqa: F811
    script = "select 1;\n" * 30 + "selec 1;\n" * 5 + "select * from no_such_table;\n" * 3
    result = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(postgres_port), "-U", "postgres", "-X", "-q"],
                            input=script, text=True, capture_output=True, timeout=60)
    assert result.stderr.count("syntax error") == 5 and result.stderr.count("does not exist") == 3
    want = {"ok": 30, "42601": 5, "42P01": 3}
    capture.wait_for(lambda c: request_counts(c, postgres_port, "client") == want
                     and request_counts(c, postgres_port, "server") == want,
                     what=f"{want} at both ends")
