"""The Flask application: the map, the JSON API and /metrics on one port, with security headers and
optional authentication for when it listens beyond loopback."""
from __future__ import annotations

import base64
import hmac

from flask import Flask, jsonify, request
from prometheus_client import CollectorRegistry, make_wsgi_app
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tracer.config import AuthConfig, Config

from . import api, ui
from .sources import Source

UNAUTHENTICATED_PATHS = ("/healthz",)  # liveness probes carry no credentials; it tells nothing about traffic


def create_app(source: Source, config: Config) -> Flask:
    app = Flask(__name__)
    app.extensions["intuition.source"] = source
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)

    @app.errorhandler(HTTPException)
    def api_errors_as_json(error: HTTPException):
        """An unknown /api/ path or a wrong method answers JSON, as the API's own errors do."""
        if request.path.startswith("/api/"):
            return jsonify(error=f"{error.code} {error.name}: {error.description}"), error.code
        return error

    # A private registry: the process-wide default one would collect this process's own Python metrics too
    # and break a second app in the same process (tests).
    registry = CollectorRegistry()
    for collector in source.collectors():
        registry.register(collector)
    # make_wsgi_app negotiates OpenMetrics from the Accept header, and gzip
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": make_wsgi_app(registry)})
    if config.auth.mode != "none":
        app.wsgi_app = RequireAuthorization(app.wsgi_app, config.auth)
    # outermost, so that /metrics and the 401 answers carry the headers too, not only Flask's own responses
    app.wsgi_app = WithHeaders(app.wsgi_app, ui.SECURITY_HEADERS)
    return app


class WithHeaders:
    """WSGI middleware: adds fixed headers to every response that does not set them itself."""

    def __init__(self, wsgi_app, headers: dict[str, str]):
        self._app = wsgi_app
        self._headers = list(headers.items())

    def __call__(self, environ, start_response):
        def start_with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            extra = [(name, value) for name, value in self._headers if name.lower() not in present]
            return start_response(status, headers + extra, exc_info)

        return self._app(environ, start_with_headers)


class RequireAuthorization:
    """WSGI middleware: every path but /healthz needs the configured basic credentials or bearer token."""

    def __init__(self, wsgi_app, auth: AuthConfig):
        self._app = wsgi_app
        if auth.mode == "basic":
            credentials = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
            self._expected = f"Basic {credentials}".encode()
            self._challenge = 'Basic realm="intuition", charset="UTF-8"'
        else:
            self._expected = f"Bearer {auth.token}".encode()
            self._challenge = 'Bearer realm="intuition"'

    def __call__(self, environ, start_response):
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1")
        if environ.get("PATH_INFO") in UNAUTHENTICATED_PATHS or hmac.compare_digest(given, self._expected):
            return self._app(environ, start_response)
        start_response("401 Unauthorized", [("WWW-Authenticate", self._challenge),
                                            ("Content-Type", "text/plain; charset=utf-8")])
        return [b"authentication required\n"]
