"""The little HTTP server that vote and result share: plain http.server, one thread per request."""
from __future__ import annotations

import html
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 80
OPTIONS = {"a": "Cats", "b": "Dogs"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as browsers and load balancers use it

    def send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, value) -> None:
        self.send(status, json.dumps(value).encode(), "application/json")

    def send_page(self, status: int, title: str, body_html: str, refresh: int = 0) -> None:
        meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
        page = (f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{html.escape(title)}</title>"
                f"</head><body><h1>{html.escape(title)}</h1>{body_html}</body></html>")
        self.send(status, page.encode(), "text/html; charset=utf-8")

    def log_message(self, *args) -> None:
        pass  # one line per request would drown the container's log


def serve(handler: type[Handler]) -> None:
    ThreadingHTTPServer(("0.0.0.0", PORT), handler).serve_forever()
