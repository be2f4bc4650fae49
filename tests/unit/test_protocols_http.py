"""HTTP/1.x parsing and redaction, on bytes captured from curl and nginx."""
import pytest

from tracer.protocols import http
from tracer.protocols.parsing import ParseError

from .protocol_captures import CONTINUE_RESPONSE, LOGIN_REQUEST, LOGIN_RESPONSE, NOT_FOUND_RESPONSE


def test_request_redacted():
    request = http.parse_request(LOGIN_REQUEST, redact=True)
    assert (request.operation, request.target) == ("GET", "/login")
    assert request.text == (
        "GET /login HTTP/1.1\nHost: 127.0.0.1:18081\nUser-Agent: curl/7.88.1\nAccept: */*\nAuthorization: ?"
    )


def test_request_unredacted_keeps_everything():
    request = http.parse_request(LOGIN_REQUEST, redact=False)
    assert request.target == "/login?user=bob&password=secret"
    assert "Authorization: Bearer abc" in request.text


def test_response_redacts_cookie_and_body():
    response = http.parse_response(LOGIN_RESPONSE, redact=True)
    assert response.detail == "OK"
    assert response.text.splitlines()[0] == "HTTP/1.1 200 OK"
    assert "Set-Cookie: ?" in response.text
    assert response.text.endswith("Connection: keep-alive\nSet-Cookie: ?\n\n?")
    assert "s3cr3t" not in response.text and "welcome" not in response.text


def test_response_unredacted_shows_body():
    response = http.parse_response(LOGIN_RESPONSE, redact=False)
    assert response.text.endswith("Set-Cookie: session=s3cr3t\n\nwelcome\n")


def test_reason_with_spaces():
    assert http.parse_response(NOT_FOUND_RESPONSE, redact=True).detail == "Not Found"


def test_interim_continue_is_shown_but_final_status_reported():
    response = http.parse_response(CONTINUE_RESPONSE, redact=True)
    assert response.detail == "Created"
    assert response.text.startswith("HTTP/1.1 100 Continue\n\nHTTP/1.1 201 Created\nServer: nginx/1.22.1\n")


@pytest.mark.parametrize(
    "data, operation, target, text",
    [
        (b"", None, None, ""),
        (b"GE", "GE", None, "GE"),
        (b"GET /log", "GET", "/log", "GET /log"),
        (b"GET /login?pass", "GET", "/login", "GET /login"),
        (b"GET /login HTTP/1.", "GET", "/login", "GET /login HTTP/1."),
        (b"GET / HTTP/1.1\r", "GET", "/", "GET / HTTP/1.1"),
        (b"GET / HTTP/1.1\r\nAuthoriz", "GET", "/", "GET / HTTP/1.1\nAuthoriz"),
        (b"GET / HTTP/1.1\r\nAuthorization: Bea", "GET", "/", "GET / HTTP/1.1\nAuthorization: ?"),
        (b"GET / HTTP/1.1\r\nX-Api-Key: k\r\n\r\n", "GET", "/", "GET / HTTP/1.1\nX-Api-Key: ?"),
        (b"GET / HTTP/1.1\nAuth-Token: t\n\n", "GET", "/", "GET / HTTP/1.1\nAuth-Token: ?"),
        (b"POST /f HTTP/1.0\r\nContent-Length: 9\r\n\r\npw=secret", "POST", "/f",
         "POST /f HTTP/1.0\nContent-Length: 9\n\n?"),
        (b"GET / HTTP/1.1\r\nCookie: a=1\r\n b=2\r\n\r\n", "GET", "/", "GET / HTTP/1.1\nCookie: ?\n ?"),
        (b"GET / HTTP/1.1\r\nReferer: http://a/b?c=d\r\n\r\n", "GET", "/", "GET / HTTP/1.1\nReferer: http://a/b"),
        (b"GET http://u:pw@host/p?q=1 HTTP/1.1\r\n\r\n", "GET", "http://?@host/p", "GET http://?@host/p HTTP/1.1"),
    ],
)
def test_request_cut_anywhere(data, operation, target, text):
    request = http.parse_request(data, redact=True)
    assert (request.operation, request.target, request.text) == (operation, target, text)


@pytest.mark.parametrize(
    "data, detail, text",
    [
        (b"", None, ""),
        (b"HTT", None, "HTT"),
        (b"HTTP/1.1 4", None, "HTTP/1.1 4"),
        (b"HTTP/1.1 404", None, "HTTP/1.1 404"),
        (b"HTTP/1.1 404 Not Fo", "Not Fo", "HTTP/1.1 404 Not Fo"),
        (b"HTTP/1.1 200\r\n\r\n", None, "HTTP/1.1 200"),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "Continue", "HTTP/1.1 100 Continue"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 5", None, "HTTP/1.1 100 Continue\n\nHTTP/1.1 5"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello", "Switching Protocols",
         "HTTP/1.1 101 Switching Protocols\n\n?"),
    ],
)
def test_response_cut_anywhere(data, detail, text):
    response = http.parse_response(data, redact=True)
    assert (response.detail, response.text) == (detail, text)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"get / HTTP/1.1\r\n", "request method is not a word in capitals"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01", "request method is not a word in capitals"),  # a TLS ClientHello
        (b"GET /\r\n", "request line has no HTTP version"),
        (b"GET  HTTP/1.1\r\n", "request line has an empty target"),
        (b"GET / HTTP/2.0\r\n", "not HTTP/1.0 or HTTP/1.1"),
        (b"GET / HTTP/1.1 x\r\n", "request line has more than three parts"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "header line without a colon"),
        (b"GET / HTTP/1.1\r\n folded\r\n\r\n", "header continuation line without a header"),
    ],
)
def test_malformed_requests(data, reason):
    with pytest.raises(ParseError, match=f"^{reason}$"):
        http.parse_request(data, redact=True)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not HTTP/1.0 or HTTP/1.1"),
        (b"HTTP/1.1 20x OK\r\n", "status code is not three digits from 100 to 599"),
        (b"HTTP/1.1 600 Odd\r\n", "status code is not three digits from 100 to 599"),
        (b"HTTP/1.1 2000", "status code is not three digits from 100 to 599"),
        (b"HTTP/1.1\r\n\r\n", "status line has no status code"),
    ],
)
def test_malformed_responses(data, reason):
    with pytest.raises(ParseError, match=f"^{reason}$"):
        http.parse_response(data, redact=True)


def test_undecodable_bytes_become_replacement_characters():
    request = http.parse_request(b"GET /caf\xe9 HTTP/1.1\r\n\r\n", redact=True)
    assert request.target == "/caf\ufffd"
