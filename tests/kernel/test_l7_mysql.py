"""MySQL requests classified in the kernel: exact counts per status at the server end of MariaDB's
connections, checked against the server's own counters, and the packet shapes clients and servers may write."""
import socket
import subprocess

import mysql.connector
import pytest

from tests.helpers.l7 import server_counts
from tests.helpers.tcp_server import Server, read_exactly
from tests.unit.protocol_captures import MYSQL_GREETING, MYSQL_OK, MYSQL_SYNTAX_ERROR


def statement_summary(mariadb) -> dict[str, tuple[int, int]]:
    """performance_schema's statements by kind ("statement/sql/select", "statement/com/Prepare"): (count,
    errors). Asked over the Unix socket, which the probes do not count."""
    out = subprocess.run(["mariadb", "--no-defaults", "-S", mariadb.socket, "-u", "root", "-N", "-B", "-e",
                          "SELECT event_name, count_star, sum_errors FROM performance_schema."
                          "events_statements_summary_global_by_event_name WHERE count_star > 0"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    rows = (line.split("\t") for line in out.splitlines())
    return {name: (int(count), int(errors)) for name, count, errors in rows}


@pytest.mark.kernel
def test_mariadb_client_outcomes_exact(capture, mariadb):
    script = "select 1;\n" * 30 + "selec 1;\n" * 4 + "select * from no_such_table;\n" * 3
    result = subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(mariadb.port), "-u", "root",
                             "--force", "mysql"], input=script, text=True, capture_output=True, timeout=60)
    assert result.stderr.count("ERROR 1064 (42000)") == 4 and result.stderr.count("ERROR 1146 (42S02)") == 3
    want = {"ok": 30, "1064": 4, "1146": 3}
    capture.wait_for(lambda c: server_counts(c, mariadb.port, "mysql") == want, what=f"{want} at the server end")
    # the server's own view: selects (the failed ones included) and which statements failed
    status, summary = mariadb.global_status(), statement_summary(mariadb)
    select_errors, syntax_errors = summary["statement/sql/select"][1], summary["statement/sql/error"][1]
    assert (status["Com_select"] - select_errors, syntax_errors, select_errors) == (30, 4, 3)


@pytest.mark.kernel
def test_prepared_statements_exact(capture, mariadb):
    """mysql-connector-python with server-side prepared statements: COM_STMT_PREPARE once per statement,
    COM_STMT_EXECUTE per run; its COM_STMT_RESET, COM_STMT_CLOSE and COM_PING are not requests."""
    connection = mysql.connector.connect(host="127.0.0.1", port=mariadb.port, user="root", database="mysql",
                                         use_pure=True)
    try:
        cursor = connection.cursor(prepared=True)
        for i in range(20):
            cursor.execute("SELECT ? + 1", (i,))
            assert cursor.fetchall() == [(i + 1,)]
        for i in range(2):
            with pytest.raises(mysql.connector.Error, match="doesn't exist"):
                cursor.execute("SELECT * FROM no_such_table WHERE id = ?", (i,))
        cursor.close()
    finally:
        connection.close()
    status, summary = mariadb.global_status(), statement_summary(mariadb)
    failed_prepares = summary["statement/com/Prepare"][1]
    assert (status["Com_stmt_prepare"], failed_prepares, status["Com_stmt_execute"]) == (3, 2, 20)
    # the connector's own setup: SET NAMES and SET autocommit, two COM_QUERYs
    ok = status["Com_set_option"] + status["Com_stmt_prepare"] - failed_prepares + status["Com_stmt_execute"]
    want = {"ok": ok, "1146": failed_prepares}
    assert want == {"ok": 23, "1146": 2}
    capture.wait_for(lambda c: server_counts(c, mariadb.port, "mysql") == want, what=f"{want} at the server end")


def packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


def query(sql: bytes) -> bytes:
    return packet(0, b"\x03" + sql)


CLIENT_COMPRESS, CLIENT_SSL = 0x20, 0x800   # capability flags


def handshake_response(capabilities: int = 0) -> bytes:
    """The client's first packet: its capability flags, then what does not matter here."""
    return packet(1, capabilities.to_bytes(4, "little") + bytes(36))


def handshake(s: socket.socket, capabilities: int = 0) -> None:
    """The client's part of the handshake with scripted_server."""
    assert s.recv(len(MYSQL_GREETING), socket.MSG_WAITALL) == MYSQL_GREETING
    s.sendall(handshake_response(capabilities))
    read_exactly(s, len(MYSQL_OK))
STMT_CLOSE = packet(0, b"\x19\x01\x00\x00\x00")
OLD_ERROR = packet(1, b"\xff\x10\x04Too many connections")   # 1040 without '#' and SQLSTATE
OUT_OF_SEQUENCE = packet(5, MYSQL_OK[4:])


def scripted_server(replies: list[list[bytes | tuple[bytes, ...]]]):
    """Handler: greets, accepts the handshake, then reads each command's header and payload in separate
    reads and answers the n-th with the writes in replies[n] (none for commands that get no reply); a tuple
    is one write of several buffers (sendmsg)."""
    def handle(conn: socket.socket) -> None:
        conn.sendall(MYSQL_GREETING)
        read_exactly(conn, len(handshake_response()))
        conn.sendall(packet(2, MYSQL_OK[4:]))
        for writes in replies:
            header = conn.recv(4, socket.MSG_WAITALL)
            read_exactly(conn, int.from_bytes(header[:3], "little"))
            for data in writes:
                if isinstance(data, tuple):
                    assert conn.sendmsg(data) == len(b"".join(data))
                else:
                    conn.sendall(data)
    return handle


@pytest.mark.kernel
def test_packet_shapes_and_malformed_replies(capture):
    """Headers read and written alone or in a buffer of their own, a command without reply, a pre-4.1 error,
    and a reply out of sequence: that one is a parse error, and its request is not counted."""
    script = [
        (query(b"select 1"), [MYSQL_OK[:4], MYSQL_OK[4:]]),   # the reply's header in its own write
        (query(b"selec 1"), [MYSQL_SYNTAX_ERROR]),
        (STMT_CLOSE, []),
        (query(b"select 2"), [MYSQL_OK]),
        (query(b"select 3"), [OUT_OF_SEQUENCE]),
        (query(b"select 4"), [OLD_ERROR]),
        (query(b"select 5"), [(MYSQL_SYNTAX_ERROR[:4], MYSQL_SYNTAX_ERROR[4:])]),   # header and payload in one writev
    ]
    capture.poll()
    before = capture.collector.parse_errors.get("mysql", 0)
    with Server(scripted_server([writes for _, writes in script])) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as s:
        handshake(s)
        for request, writes in script:
            s.sendall(request)
            read_exactly(s, sum(len(b"".join(data) if isinstance(data, tuple) else data) for data in writes))
        want = {"ok": 2, "1064": 2, "1040": 1}
        capture.wait_for(lambda c: server_counts(c, server.port, "mysql") == want
                         and c.collector.parse_errors.get("mysql", 0) - before >= 1,
                         what=f"{want} and a parse error at the server end")
    capture.poll()
    assert capture.collector.parse_errors["mysql"] - before == 1


@pytest.mark.kernel
@pytest.mark.parametrize("capability", [CLIENT_SSL, CLIENT_COMPRESS], ids=["tls", "compressed"])
def test_tls_or_compressed_connection_counts_bytes_only(capture, capability):
    """A client that asks for TLS or compressed packets: its query is not counted; the next connection's,
    which asks for neither, is."""
    with Server(scripted_server([[MYSQL_OK]])) as server:
        for capabilities in (capability, 0):
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                handshake(s, capabilities)
                s.sendall(query(b"select 1"))
                read_exactly(s, len(MYSQL_OK))
        capture.wait_for(lambda c: server_counts(c, server.port, "mysql") == {"ok": 1},
                         what="the second connection's query alone at the server end")
