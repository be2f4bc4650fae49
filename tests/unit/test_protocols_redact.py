"""Redaction rules: what a stored sample hides."""
import pytest

from tracer.protocols import redact


@pytest.mark.parametrize(
    "statement, redacted",
    [
        ("SELECT * FROM t WHERE name = 'alice'", "SELECT * FROM t WHERE name = ?"),
        ("SELECT * FROM t WHERE name = 'ali", "SELECT * FROM t WHERE name = ?"),
        ("UPDATE t SET a = 'it''s', b = 2", "UPDATE t SET a = ?, b = ?"),
        ("SELECT 'C:\\', 'secret'", "SELECT ?, ?"),  # a backslash escapes nothing in a standard string
        ("SELECT E'it\\'s secret', 1", "SELECT ?, ?"),
        ("SELECT e'a\\\\', 'secret'", "SELECT ?, ?"),
        ("SELECT $$secret$$, $fn$it's $$ secret$fn$ FROM t", "SELECT ?, ? FROM t"),
        ("SELECT $$secret", "SELECT ?"),
        ("SELECT B'0101', X'1F', N'nat', U&'d\\0061t'", "SELECT B?, X?, N?, U&?"),
        ("LIMIT 10 OFFSET 5", "LIMIT ? OFFSET ?"),
        ("SELECT 1.5e3, .5, 3., 1_000, 0x1F, 0o17, 0b101, -7", "SELECT ?, ?, ?, ?, ?, ?, ?, -?"),
        ("SELECT t1.col_2, \"Name 1\", \"a\"\"9\" FROM t1 WHERE id = $1", None),
        ("SELECT café1 FROM t", None),
        ("-- it's 5 o'clock\nSELECT 5", "-- it's 5 o'clock\nSELECT ?"),
        ("/* don't 1 */ SELECT 'x'", "/* don't 1 */ SELECT ?"),
        ("SELECT 1::int4, a[2]", "SELECT ?::int4, a[?]"),
    ],
)
def test_sql_literals_replaced(statement, redacted):
    assert redact.sql(statement) == (statement if redacted is None else redacted)


@pytest.mark.parametrize(
    "statement, redacted",
    [
        ("SELECT * FROM t WHERE name = 'alice'", "SELECT * FROM t WHERE name = ?"),
        ("SELECT 'it\\'s secret', 1", "SELECT ?, ?"),  # a backslash escapes in MySQL's strings
        ("SELECT 'a\\\\', 'secret'", "SELECT ?, ?"),
        ('SELECT "double quoted secret", \'it\'\'s\'', "SELECT ?, ?"),
        ("SELECT `col 1`, t2.c3 FROM `my``table` WHERE id = ?", None),
        ("INSERT INTO t VALUES (0x1F, X'1F', 0b101, 1.5e3, .5, -7)", "INSERT INTO t VALUES (?, X?, ?, ?, ?, -?)"),
        ("SELECT 'cut \\", "SELECT ?"),
        ("# it's 5\nSELECT 5 -- or 6\n", "# it's 5\nSELECT ? -- or 6\n"),
        ("/* don't 1 */ SELECT 'x'", "/* don't 1 */ SELECT ?"),
    ],
)
def test_mysql_literals_replaced(statement, redacted):
    assert redact.mysql_sql(statement) == (statement if redacted is None else redacted)


@pytest.mark.parametrize(
    "target, path",
    [
        ("/login?user=bob&password=secret", "/login"),
        ("/page#section", "/page"),
        ("/a?b#c", "/a"),
        ("/", "/"),
        ("/users/42", "/users/42"),
        ("http://user:pw@example.test/x?y", "http://?@example.test/x"),
        ("/mail/a@b", "/mail/a@b"),
        ("*", "*"),
    ],
)
def test_url_path(target, path):
    assert redact.url_path(target) == path


@pytest.mark.parametrize(
    "name",
    ["Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key", "X-Auth-Token",
     "Sec-WebSocket-Key", "X-Client-Secret", "X-Password"],
)
def test_secret_headers(name):
    assert redact.header_value(name, "s3cr3t") == "?"


@pytest.mark.parametrize("name", ["Host", "Content-Type", "Accept", "Keep-Alive", "User-Agent", "Connection"])
def test_plain_headers(name):
    assert redact.header_value(name, "plain ?value") == "plain ?value"


@pytest.mark.parametrize("name", ["Referer", "location", "Content-Location"])
def test_url_headers_lose_their_query(name):
    assert redact.header_value(name, "https://app.test/callback?code=s3cr3t") == "https://app.test/callback"


@pytest.mark.parametrize(
    "command, arguments, shown",
    [
        ("SET", ["k", "v", "EX", "10"], ["k", "?", "?", "?"]),
        ("HSET", ["h", "f", "v"], ["h", "?", "?"]),
        ("MSET", ["k1", "v1", "k2", "v2"], ["k1", "?", "?", "?"]),
        ("GET", ["k"], ["k"]),
        ("PING", [], []),
        ("AUTH", ["pw"], ["?"]),
        ("auth", ["alice", "pw"], ["?", "?"]),
        ("HELLO", ["3", "AUTH", "alice", "pw"], ["3", "?", "?", "?"]),
    ],
)
def test_redis_values_hidden(command, arguments, shown):
    assert redact.redis_arguments(command, arguments) == shown


@pytest.mark.parametrize(
    "message, shown",
    [
        ("ERR unknown command 'JSON.SET', with args beginning with: 'k' '$' '{\"pw\": 1}' ",
         "ERR unknown command '?', with args beginning with: '?' '?' '?' "),
        ("ERR unknown command 'x', with args beginning with: 'cut",
         "ERR unknown command '?', with args beginning with: '?'"),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", None),
    ],
)
def test_quoted_parts_hidden(message, shown):
    assert redact.quoted_parts(message) == (message if shown is None else shown)
