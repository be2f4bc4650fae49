"""MySQL classic protocol parsing and redaction, on bytes captured from the mariadb client,
mysql-connector-python and MariaDB 10.11."""
import pytest

from tracer.protocols import mysql
from tracer.protocols.parsing import ParseError

from .protocol_captures import (
    MYSQL_CLOSE_AND_QUIT, MYSQL_CREATE_DATABASE, MYSQL_EXECUTE, MYSQL_EXECUTE_RESPONSE, MYSQL_NO_SUCH_TABLE,
    MYSQL_OK, MYSQL_PREPARE, MYSQL_PREPARE_RESPONSE, MYSQL_SELECT_ALICE, MYSQL_SELECT_ALICE_RESPONSE,
    MYSQL_SYNTAX_ERROR,
)


@pytest.mark.parametrize(
    "data, redact, operation, target, text",
    [
        (MYSQL_SELECT_ALICE, True, "COM_QUERY", "SELECT * FROM shop.t WHERE name = ?",
         "COM_QUERY: SELECT * FROM shop.t WHERE name = ?"),
        (MYSQL_SELECT_ALICE, False, "COM_QUERY", "SELECT * FROM shop.t WHERE name = 'alice'",
         "COM_QUERY: SELECT * FROM shop.t WHERE name = 'alice'"),
        (MYSQL_CREATE_DATABASE, True, "COM_QUERY", "create database shop", "COM_QUERY: create database shop"),
        (MYSQL_PREPARE, True, "COM_STMT_PREPARE", "SELECT name FROM t WHERE id = ?",
         "COM_STMT_PREPARE: SELECT name FROM t WHERE id = ?"),
        (MYSQL_EXECUTE, False, "COM_STMT_EXECUTE", None, "COM_STMT_EXECUTE 1"),  # parameters never shown
        (MYSQL_CLOSE_AND_QUIT, True, "COM_STMT_CLOSE", None, "COM_STMT_CLOSE 1\nCOM_QUIT"),
        (MYSQL_SELECT_ALICE[4:], True, "COM_QUERY", "SELECT * FROM shop.t WHERE name = ?",  # header written alone
         "COM_QUERY: SELECT * FROM shop.t WHERE name = ?"),
        (MYSQL_EXECUTE[4:], True, "COM_STMT_EXECUTE", None, "COM_STMT_EXECUTE 1"),
        (MYSQL_CREATE_DATABASE + b"\x02\x00\x00\x01zz", True, "COM_QUERY", "create database shop",
         "COM_QUERY: create database shop\ndata"),  # more of a long command
    ],
)
def test_requests(data, redact, operation, target, text):
    request = mysql.parse_request(data, redact)
    assert (request.operation, request.target, request.text) == (operation, target, text)


def test_request_cut_anywhere():
    """Every cut parses: no command before its byte, then the statement so far with its literal hidden."""
    for cut in range(len(MYSQL_SELECT_ALICE) + 1):
        request = mysql.parse_request(MYSQL_SELECT_ALICE[:cut], redact=True)
        assert request.operation == (None if cut < 5 else "COM_QUERY"), cut
        assert "ali" not in request.text, cut
    cut_in_literal = mysql.parse_request(MYSQL_SELECT_ALICE[:-3], redact=True)
    assert cut_in_literal.target == "SELECT * FROM shop.t WHERE name = ?"


@pytest.mark.parametrize(
    "data, detail, text",
    [
        (MYSQL_OK, "OK", "OK"),
        (MYSQL_SELECT_ALICE_RESPONSE, "result set of 2 columns",
         "result set of 2 columns\ncolumn definition x 2\nEOF\nrow\nEOF"),
        (MYSQL_PREPARE_RESPONSE, "OK", "OK\ndefinition\nEOF\ndefinition\nEOF"),
        (MYSQL_EXECUTE_RESPONSE, "result set of 1 columns", "result set of 1 columns\ncolumn definition\nEOF\nrow\nEOF"),
        (MYSQL_NO_SUCH_TABLE, "1146 (42S02) Table '?' doesn'?'", "ERR 1146 (42S02) Table '?' doesn'?'"),
        (MYSQL_SYNTAX_ERROR[:13], "1064 (42000)", "ERR 1064 (42000)"),
        (MYSQL_SYNTAX_ERROR[:6], "", "ERR"),
        (MYSQL_OK[4:], "OK", "OK"),  # the header read alone
        (b"", None, ""),
        (b"\x07\x00", None, ""),
    ],
)
def test_responses(data, detail, text):
    response = mysql.parse_response(data, redact=True)
    assert (response.detail, response.text) == (detail, text)


def test_rows_never_shown():
    assert "alice" not in mysql.parse_response(MYSQL_SELECT_ALICE_RESPONSE, redact=False).text


def test_error_message_shown_whole_without_redaction():
    assert mysql.parse_response(MYSQL_NO_SUCH_TABLE, redact=False).detail == (
        "1146 (42S02) Table 'shop.no_such_table' doesn't exist")


@pytest.mark.parametrize(
    "data, side, message",
    [
        (b"\x05\x00\x00\x07\x03abcd", "request", "request is not a command packet"),
        (MYSQL_CLOSE_AND_QUIT[:9] + b"\x01\x00\x00\x00\x20", "request", "unknown command"),
        (MYSQL_CLOSE_AND_QUIT[:9] + b"\x01\x00\x00\x05\x01", "request", "packet out of sequence"),
        (MYSQL_OK + b"\x01\x00\x00\x09\x00", "response", "packet out of sequence"),
        (b"\x09\x00\x00\x01\xff\x28\x04#4200!", "response", "ERR packet's SQLSTATE is not five letters or digits"),
    ],
)
def test_malformed(data, side, message):
    parse = mysql.parse_request if side == "request" else mysql.parse_response
    with pytest.raises(ParseError, match=f"^{message}$"):
        parse(data, True)
