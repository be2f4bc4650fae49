"""result: the totals from PostgreSQL, as a page (GET /) and as JSON (GET /api/results).

Fault switch (docker service update --env-add on voting_result): DELAY_MS=300 answers every request that
much later.
"""
from __future__ import annotations

import html
import os
import time

import psycopg2

from web import OPTIONS, Handler, serve

DELAY_SECONDS = float(os.environ.get("DELAY_MS", "0")) / 1000
TOTALS = "SELECT vote, count(*) FROM votes GROUP BY vote"


def totals() -> dict[str, int]:
    # a connection per request: simple, and it survives db restarts without any reconnect logic
    with psycopg2.connect(host="db", user="postgres", dbname="postgres", connect_timeout=5) as conn:
        with conn.cursor() as cursor:
            cursor.execute(TOTALS)
            counted = dict(cursor.fetchall())
    conn.close()  # the with block only ends the transaction
    return {key: counted.get(key, 0) for key in OPTIONS}


class Result(Handler):
    def do_GET(self) -> None:
        time.sleep(DELAY_SECONDS)
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
