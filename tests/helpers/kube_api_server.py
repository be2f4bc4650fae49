"""A stand-in Kubernetes API server on loopback: serves a dict of objects by path as JSON, to one bearer token.

    with kube_api_server(objects) as server:   # objects: path -> JSON object, read at each request
        api = KubeApi(server.url, TOKEN, None)
        server.refuse = True                   # every request answered 403 from now on
        server.requests                        # the paths asked, in order

Any other token gets 403; a path not in objects gets 404, as from the real one.
"""
from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

TOKEN = "s3cret-token"


class KubeApiServer:
    def __init__(self, url: str, objects: dict[str, Any]):
        self.url = url
        self.objects = objects
        self.refuse = False
        self.requests: list[str] = []


@contextlib.contextmanager
def kube_api_server(objects: dict[str, Any]) -> Iterator[KubeApiServer]:
    state: KubeApiServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state.requests.append(self.path)
            if state.refuse or self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(403)
                self.end_headers()
                return
            body = state.objects.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = KubeApiServer(f"http://127.0.0.1:{server.server_address[1]}", objects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
