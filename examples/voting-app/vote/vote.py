"""vote: a page with two buttons and POST /vote, which queues the vote in Redis for the worker.

Fault switch (scripts/demo.sh fault vote-500 on|off, through `docker service update`): FAIL_PERCENT=30
answers that share of requests with 500.
"""
from __future__ import annotations

import json
import os
import random
import urllib.parse
import uuid

import redis

from web import OPTIONS, Handler, serve

FAIL_PERCENT = float(os.environ.get("FAIL_PERCENT", "0"))
QUEUE = "votes"
# connects lazily and again after an error, resolving the name each time (dnsrr: the task's own address)
store = redis.Redis(host="redis", port=6379, socket_connect_timeout=2, socket_timeout=5)

BUTTONS = "".join(f'<button name="vote" value="{key}">{label}</button>' for key, label in OPTIONS.items())
FORM = f'<form method="post" action="/vote">{BUTTONS}</form>'


class Vote(Handler):
    def do_GET(self) -> None:
        if self.path != "/":
            self.send_page(404, "Not found", "")
        elif not self.failing():
            self.send_page(200, "Cats or dogs?", FORM)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        choice = form.get("vote", [""])[0]
        if self.path != "/vote" or choice not in OPTIONS:
            self.send_page(400, "Bad vote", FORM)
            return
        if self.failing():
            return
        voter = form.get("voter", [uuid.uuid4().hex])[0]
        try:
            store.rpush(QUEUE, json.dumps({"voter": voter, "vote": choice}))
        except redis.RedisError as error:
            self.send_page(503, "Vote not recorded", f"<p>Redis: {type(error).__name__}</p>")
            return
        self.send_page(200, f"You voted {OPTIONS[choice]}", FORM)

    def failing(self) -> bool:
        """The fault switch: answer 500 for FAIL_PERCENT of requests."""
        if random.uniform(0, 100) >= FAIL_PERCENT:
            return False
        self.send_page(500, "Internal error", "<p>FAIL_PERCENT is set on this service.</p>")
        return True


if __name__ == "__main__":
    serve(Vote)
