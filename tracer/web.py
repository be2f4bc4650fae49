"""Serving one WSGI app on one socket until SIGINT or SIGTERM."""
from __future__ import annotations

import logging
import signal
import socket
import threading

# waitress: a production WSGI server in pure Python, threads in one process. The graph and prometheus_client's
# custom collectors live in this process's memory, so a pre-fork server (gunicorn) would give each worker an
# empty graph of its own; waitress also needs no compiler and is packaged by Debian.
from waitress import wasyncore
from waitress.server import create_server

from .config import Listen

log = logging.getLogger(__name__)


class ListenError(Exception):
    """The listen address is taken or not this host's."""


class WebServer:
    """waitress serving one WSGI app on one socket; stop() may be called from any thread or a signal handler."""

    def __init__(self, app, listen: Listen):
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        try:
            self._socket = socket.create_server((listen.host, listen.port), family=family)
        except OSError as e:
            raise ListenError(f"cannot serve on {listen}: {e.strerror or e}") from e
        self._map: dict = {}  # waitress's channels; empty once stop() closed them all, which ends serve()
        self._server = create_server(app, map=self._map, sockets=[self._socket], threads=8, ident="intuition")
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def serve(self) -> None:
        """Serve until stop()."""
        try:
            self._server.run()
        finally:
            self._server.task_dispatcher.shutdown()

    def stop(self) -> None:
        if self._stopping.is_set():  # a second Ctrl-C or SIGTERM while shutting down
            return
        self._stopping.set()
        # closing the channels inside waitress's loop thread keeps it from polling a closed socket
        try:
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
        except OSError as e:
            # The loop's wake-up pipe is gone: a full test run saw its descriptor closed under it once, by a
            # cause not found yet. Closing the channels from here still ends the loop (its map empties).
            log.warning("the web server's wake-up pipe is closed (%s): closing its sockets from this thread", e)
            wasyncore.close_all(self._map)


def serve_until_signal(app, listen: Listen) -> None:
    """Serve in this thread until SIGINT or SIGTERM; raises ListenError when the address cannot be bound."""
    server = WebServer(app, listen)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stop())
    log.info("serving on http://%s/", listen._replace(port=server.port))  # the port chosen for port 0
    server.serve()
