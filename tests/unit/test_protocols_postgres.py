"""PostgreSQL v3 parsing and redaction, on bytes captured from psql, pgbench and PostgreSQL."""
import pytest

from tracer.protocols import postgres
from tracer.protocols.parsing import ParseError

from .protocol_captures import (
    PGBENCH_PREPARE, PGBENCH_PREPARED_BIND, PGBENCH_UPDATE, PGBENCH_UPDATE_RESPONSE, SELECT_ALICE,
    SELECT_ALICE_RESPONSE, SYNTAX_ERROR, TWO_SELECTS_RESPONSE, UNDEFINED_TABLE,
)


@pytest.mark.parametrize(
    "data, redact, operation, target, text",
    [
        (SELECT_ALICE, True, "Query", "SELECT * FROM t WHERE name = ?", "Query: SELECT * FROM t WHERE name = ?"),
        (SELECT_ALICE, False, "Query", "SELECT * FROM t WHERE name = 'alice'",
         "Query: SELECT * FROM t WHERE name = 'alice'"),
        (PGBENCH_UPDATE, True, "Parse", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
         "Parse: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;\nBind\nDescribe\nExecute\nSync"),
        (PGBENCH_PREPARED_BIND, True, "Bind", None, "Bind P_2\nDescribe\nExecute\nSync"),
        (PGBENCH_PREPARE, True, "Parse", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
         "Parse P_2: SELECT abalance FROM pgbench_accounts WHERE aid = $1;\nSync"),
        (b"X\x00\x00\x00\x04", True, "Terminate", None, "Terminate"),
        (b"p\x00\x00\x00\x0chunter2\x00", True, "PasswordMessage", None, "PasswordMessage"),
    ],
)
def test_requests(data, redact, operation, target, text):
    request = postgres.parse_request(data, redact)
    assert (request.operation, request.target, request.text) == (operation, target, text)


def test_bind_parameters_never_shown():
    assert "59390" not in postgres.parse_request(PGBENCH_UPDATE, redact=False).text


@pytest.mark.parametrize(
    "cut, operation, target",
    [
        (0, None, None),
        (1, "Query", None),
        (5, "Query", None),
        (20, "Query", "SELECT * FROM t"),
        (38, "Query", "SELECT * FROM t WHERE name = ?"),  # cut inside 'alice'
    ],
)
def test_request_cut_anywhere(cut, operation, target):
    request = postgres.parse_request(SELECT_ALICE[:cut], redact=True)
    assert (request.operation, request.target) == (operation, target)
    assert "ali" not in request.text


@pytest.mark.parametrize(
    "data, detail, text",
    [
        (SELECT_ALICE_RESPONSE, "SELECT 1", "RowDescription\nDataRow\nCommandComplete: SELECT 1\nReadyForQuery"),
        (SYNTAX_ERROR, '42601 syntax error at or near "selec"',
         'ErrorResponse: 42601 syntax error at or near "selec"\nReadyForQuery'),
        (UNDEFINED_TABLE, '42P01 relation "nothere" does not exist',
         'ErrorResponse: 42P01 relation "nothere" does not exist\nReadyForQuery'),
        (TWO_SELECTS_RESPONSE, "SELECT 1", "RowDescription\nDataRow\nCommandComplete: SELECT 1\n"
         "RowDescription\nDataRow\nCommandComplete: SELECT 1\nReadyForQuery"),
        (PGBENCH_UPDATE_RESPONSE, "UPDATE 1",
         "ParseComplete\nBindComplete\nNoData\nCommandComplete: UPDATE 1\nReadyForQuery"),
        (SYNTAX_ERROR[:30], "42601 syn", "ErrorResponse: 42601 syn"),
        (SYNTAX_ERROR[:3], None, ""),
        (b"", None, ""),
    ],
)
def test_responses(data, detail, text):
    response = postgres.parse_response(data, redact=True)
    assert (response.detail, response.text) == (detail, text)


def test_row_values_never_shown_and_runs_collapsed():
    rows = b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x011" * 3
    response = postgres.parse_response(rows + b"C\x00\x00\x00\rSELECT 3\x00", redact=False)
    assert response.text == "DataRow x 3\nCommandComplete: SELECT 3"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "unknown frontend message type"),  # SSLRequest: not a request
        (b"\x00\x00\x00?\x00\x03\x00\x00user\x00postgres\x00", "unknown frontend message type"),  # StartupMessage
        (b"Q\x00\x00\x00\x02", "frontend message length out of range"),
        (b"Q\x7f\xff\xff\xff", "frontend message length out of range"),
        (b"GET / HTTP/1.1\r\n", "unknown frontend message type"),
        (b"S\x00\x00\x00\x04Y", "unknown frontend message type"),
    ],
)
def test_malformed_requests(data, reason):
    with pytest.raises(ParseError, match=f"^{reason}$"):
        postgres.parse_request(data, redact=True)


def test_malformed_response():
    with pytest.raises(ParseError, match="^unknown backend message type$"):
        postgres.parse_response(b"+OK\r\n", redact=True)
