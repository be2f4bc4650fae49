"""Redaction: what a stored request sample must not reveal.

On by default; configuration may turn it off. Every hidden value becomes REDACTED, so a reader sees that
something was there. When in doubt these rules hide more, never less.
"""
from __future__ import annotations

import re

REDACTED = "?"

# Header names that carry credentials or session state: Authorization, Proxy-Authorization, Cookie,
# Set-Cookie, X-Api-Key, X-Auth-Token, ...
_SECRET_HEADER_WORDS = ("authorization", "cookie", "token", "key", "secret", "password")
# Headers whose value is a URL, which may carry a query string as secret as the request's own
# (an OAuth redirect's Location: /callback?code=...).
_URL_HEADERS = ("referer", "location", "content-location")

_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_SINGLE_QUOTED = re.compile(r"'[^']*'?")
_URL_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")

# One SQL token per alternative, tried in this order. Literals (strings, numbers) are replaced; identifiers,
# keywords, parameters ($1) and comments are kept whole so that digits inside them are not taken for numbers.
_SQL_TOKEN = re.compile(
    r"""
    (?P<escape_string> [Ee]'(?: [^'\\] | '' | \\.? )* (?: ' | \Z) )   # .? : a backslash may end the capture
  | (?P<keep>
        "(?: [^"] | "" )* "?                  # quoted identifier
      | [^\W\d][\w$]*                          # identifier or keyword
      | \$\d+                                  # positional parameter
      | --[^\n]*                               # line comment
      | /\*.*?(?: \*/ | \Z)                    # block comment
    )
  | (?P<string>
        '(?: [^'] | '' )* (?: ' | \Z)          # standard string (also after the B, X, N and U& prefixes)
      | \$(?P<tag>(?:[^\W\d]\w*)?)\$ .*? (?: \$(?P=tag)\$ | \Z)   # dollar-quoted string
    )
  | (?P<number>
        0[xX][0-9a-fA-F_]+ | 0[oO][0-7_]+ | 0[bB][01_]+
      | (?: \d[\d_]*(?:\.[\d_]*)? | \.\d[\d_]* ) (?: [eE][+-]?\d+ )?
    )
    """,
    re.VERBOSE | re.DOTALL,
)

# MySQL's dialect (its default sql_mode): a backslash escapes inside '...' and "...", both of which are
# strings; `...` quotes identifiers; # starts a comment too; ? is a prepared statement's parameter.
_MYSQL_TOKEN = re.compile(
    r"""
    (?P<keep>
        `(?: [^`] | `` )* `?                   # quoted identifier
      | [^\W\d][\w$]*                          # identifier or keyword
      | (?: --[ \t] | \# ) [^\n]*               # line comment
      | /\*.*?(?: \*/ | \Z)                    # block comment
      | \?                                     # parameter
    )
  | (?P<string>
        '(?: [^'\\] | '' | \\.? )* (?: ' | \Z)   # .? : a backslash may end the capture
      | "(?: [^"\\] | "" | \\.? )* (?: " | \Z)
    )
  | (?P<number>
        0[xX][0-9a-fA-F]+ | 0[bB][01]+
      | (?: \d+(?:\.\d*)? | \.\d+ ) (?: [eE][+-]?\d+ )?
    )
    """,
    re.VERBOSE | re.DOTALL,
)


def url_path(target: str) -> str:
    """A request target without query string, fragment and URL credentials: /login?user=bob -> /login."""
    path = _QUERY_OR_FRAGMENT.split(target, maxsplit=1)[0]
    return _URL_CREDENTIALS.sub(rf"\g<1>{REDACTED}@", path)


def header_value(name: str, value: str) -> str:
    """A header's value as stored: hidden for credentials and session state, URLs without their query."""
    lowered = name.strip().lower()
    if any(word in lowered for word in _SECRET_HEADER_WORDS):
        return REDACTED
    if lowered in _URL_HEADERS:
        return url_path(value)
    return value


def sql(statement: str) -> str:
    """The statement with every string and number literal replaced: name = 'alice' -> name = ?.

    Strings follow standard_conforming_strings (on since PostgreSQL 9.1): a backslash escapes only in E'...'.
    A literal cut off by the end of the capture is hidden to the end.
    """
    return _literals_hidden(_SQL_TOKEN, statement)


def mysql_sql(statement: str) -> str:
    """sql() in MySQL's dialect: name = 'it\\'s' -> name = ?, and "double-quoted" strings hidden too."""
    return _literals_hidden(_MYSQL_TOKEN, statement)


def _literals_hidden(tokens: re.Pattern, statement: str) -> str:
    return tokens.sub(lambda token: token["keep"] or REDACTED, statement)


def redis_arguments(command: str, arguments: list[str]) -> list[str]:
    """The arguments of a Redis command with every value hidden: the key (first argument) stays.

    Every argument after the first counts as a value, so the values of all write commands (SET, HSET,
    LPUSH, APPEND, MSET, ...) are hidden, at the price of also hiding harmless read arguments (HGET's field).
    AUTH hides all of its arguments.
    """
    kept = 0 if command.upper() == "AUTH" else 1
    return arguments[:kept] + [REDACTED] * len(arguments[kept:])


def quoted_parts(message: str) -> str:
    """An error message with its single-quoted parts hidden, where servers echo what they were sent: Redis's
    unknown-command error ("ERR unknown command 'x', with args beginning with: 'value'"), MySQL's syntax
    error ("... near 'value' at line 1")."""
    return _SINGLE_QUOTED.sub(f"'{REDACTED}'", message)
