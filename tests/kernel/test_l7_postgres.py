"""PostgreSQL requests classified in the kernel: exact counts per SQLSTATE at the server end of psql's connection."""
import subprocess

import pytest

from tests.helpers.l7 import server_counts


@pytest.mark.kernel
def test_psql_outcomes_exact(capture, postgres_port):
    script = "select 1;\n" * 30 + "selec 1;\n" * 5 + "select * from no_such_table;\n" * 3
    result = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(postgres_port), "-U", "postgres", "-X", "-q"],
                            input=script, text=True, capture_output=True, timeout=60)
    assert result.stderr.count("syntax error") == 5 and result.stderr.count("does not exist") == 3
    want = {"ok": 30, "42601": 5, "42P01": 3}
    capture.wait_for(lambda c: server_counts(c, postgres_port, "postgres") == want,
                     what=f"{want} at the server end")


def per_backend(capture, port: int) -> list[int]:
    """Requests counted at each server backend (one process per connection), fewest first."""
    counts: dict[int, int] = {}
    for key, statuses in capture.requests.items():
        if key.server_port == port and key.role == "server":
            counts[key.tgid] = counts.get(key.tgid, 0) + sum(c.count for c in statuses.values())
    return sorted(counts.values())


# pgbench's built-in TPC-B script: BEGIN, 3 UPDATEs, SELECT, INSERT, END.
STATEMENTS_PER_TRANSACTION = 7
# Before the run, on a connection of its own: the scale query, the partitioning query, VACUUM of two
# tables and TRUNCATE of the history.
SETUP_QUERIES = 5


@pytest.mark.kernel
@pytest.mark.parametrize("mode, prepares_per_client", [("simple", 0), ("extended", 0), ("prepared", 7)])
def test_pgbench_transactions_exact(capture, postgres_port, mode, prepares_per_client):
    """simple: one Query per statement; extended: Parse/Bind/Describe/Execute/Sync per statement, one
    request per Sync; prepared: each client first prepares the 7 statements (Parse, Sync each)."""
    server = ["-h", "127.0.0.1", "-p", str(postgres_port), "-U", "postgres"]
    subprocess.run(["pgbench", "-i", "-q"] + server + ["postgres"], check=True, capture_output=True, timeout=120)
    capture.collector.drain()   # the initialisation is not part of the run
    clients, per_client = 2, 50
    result = subprocess.run(["pgbench", "-M", mode, "-c", str(clients), "-t", str(per_client)] + server + ["postgres"],
                            check=True, capture_output=True, text=True, timeout=120)
    processed = f"{clients * per_client}/{clients * per_client}"
    assert f"number of transactions actually processed: {processed}" in result.stdout, result.stdout
    client_requests = STATEMENTS_PER_TRANSACTION * per_client + prepares_per_client
    want_total = SETUP_QUERIES + clients * client_requests
    capture.wait_for(lambda c: server_counts(c, postgres_port, "postgres") == {"ok": want_total}
                     and per_backend(c, postgres_port) == [SETUP_QUERIES] + [client_requests] * clients,
                     what=f"{want_total} requests: {SETUP_QUERIES} setup, {client_requests} per client")
