"""The agent's web server stops on request, even when the pipe that wakes its loop is gone."""
from __future__ import annotations

import logging
import os
import threading

import requests

from tracer.config import Listen
from tracer.web import WebServer


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def serving() -> tuple[WebServer, threading.Thread]:
    server = WebServer(hello, Listen("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    assert requests.get(f"http://127.0.0.1:{server.port}/", timeout=10).text == "hello"
    return server, thread


def test_stop_ends_serve():
    server, thread = serving()
    server.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_stop_ends_serve_when_the_wake_up_pipe_was_closed_under_it(caplog):
    server, thread = serving()
    os.close(server._server.trigger.trigger)  # what a stray close of its descriptor number does
    with caplog.at_level(logging.WARNING, logger="tracer.web"):
        server.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert "wake-up pipe is closed" in caplog.text
