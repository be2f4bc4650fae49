"""result: the totals from PostgreSQL, as a page (GET /) and as JSON (GET /api/results).

Fault switch (scripts/demo.sh fault result-slow on|off): while the file /tmp/delay_ms holds a number of
milliseconds, every request is answered that much later. A file that `docker exec` writes, not an
environment variable as for the other switches: a changed variable restarts the task, and the map's p50 is
a median over a 10-s window, so the restart's seconds would come on top of the window's.
"""
from __future__ import annotations

import html
import time
from pathlib import Path

import psycopg2

from web import OPTIONS, Handler, serve

DELAY_FILE = Path("/tmp/delay_ms")
TOTALS = "SELECT vote, count(*) FROM votes GROUP BY vote"


def totals() -> dict[str, int]:
    # a connection per request: simple, and it survives db restarts without any reconnect logic
    with psycopg2.connect(host="db", user="postgres", dbname="postgres", connect_timeout=5) as conn:
        with conn.cursor() as cursor:
            cursor.execute(TOTALS)
            counted = dict(cursor.fetchall())
    conn.close()  # the with block only ends the transaction
    return {key: counted.get(key, 0) for key in OPTIONS}


def delay_seconds() -> float:
    try:
        return float(DELAY_FILE.read_text()) / 1000
    except (OSError, ValueError):  # no file (the switch is off), or not a number
        return 0.0


class Result(Handler):
    def do_GET(self) -> None:
        time.sleep(delay_seconds())
        if self.path not in ("/", "/api/results"):
            self.send_page(404, "Not found", "")
            return
        try:
            counts = totals()
        except psycopg2.Error as error:
            self.send_json(503, {"error": type(error).__name__})
            return
        if self.path == "/api/results":
            self.send_json(200, counts)
        else:
            rows = "".join(f"<li>{html.escape(OPTIONS[k])}: {n}</li>" for k, n in counts.items())
            self.send_page(200, "Results", f"<ul>{rows}</ul>", refresh=2)


if __name__ == "__main__":
    serve(Result)
