"""worker: takes the votes that vote queued in Redis and records them in PostgreSQL, one voter one vote.

Fault switch (scripts/demo.sh fault worker-42P01 on|off, through `docker service update`):
VOTES_TABLE=missing_votes writes to a table that does not exist, so every insert fails with SQLSTATE 42P01.
"""
from __future__ import annotations

import json
import os
import sys
import time

import psycopg2
import redis
from psycopg2 import sql

TABLE = os.environ.get("VOTES_TABLE", "votes")
QUEUE = "votes"
WAIT_SECONDS = 1  # BLPOP timeout: an idle worker still asks Redis once a second
INSERT = sql.SQL("INSERT INTO {} (voter_id, vote) VALUES (%s, %s) "
                 "ON CONFLICT (voter_id) DO UPDATE SET vote = EXCLUDED.vote").format(sql.Identifier(TABLE))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def work(queue: redis.Redis, db) -> None:
    while True:
        popped = queue.blpop([QUEUE], timeout=WAIT_SECONDS)
        if popped is None:
            continue
        ballot = json.loads(popped[1])
        try:
            with db, db.cursor() as cursor:  # one transaction per vote
                cursor.execute(INSERT, (ballot["voter"], ballot["vote"]))
        except psycopg2.DatabaseError as error:
            if db.closed:
                raise
            log(f"vote lost: {error.pgcode} {error.pgerror or error}".strip())


def main() -> None:
    queue = redis.Redis(host="redis", port=6379, socket_connect_timeout=2, socket_timeout=WAIT_SECONDS + 5)
    while True:  # Redis or PostgreSQL away: try again, as a long-running worker must
        try:
            db = psycopg2.connect(host="db", user="postgres", dbname="postgres", connect_timeout=5)
            try:
                work(queue, db)
            finally:
                db.close()
        except (redis.RedisError, psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            log(f"retrying in 1 s: {type(error).__name__}: {error}".strip())
            time.sleep(1)


if __name__ == "__main__":
    main()
