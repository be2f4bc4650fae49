"""The read-only JSON API: the Vizceral graph (live or from history), services, edges, and health."""
from __future__ import annotations

import math

from flask import Blueprint, Response, current_app, jsonify, request

from .sources import Ambiguous, NotFound, Source, Unavailable

bp = Blueprint("api", __name__)


def source() -> Source:
    return current_app.extensions["intuition.source"]


class BadRequest(ValueError):
    """A query parameter is missing or malformed; the message names it."""


@bp.errorhandler(BadRequest)
@bp.errorhandler(Ambiguous)
def bad_request(error: ValueError) -> tuple[Response, int]:
    return jsonify(error=str(error)), 400


@bp.errorhandler(NotFound)
def not_found(error: NotFound) -> tuple[Response, int]:
    return jsonify(error=str(error)), 404


@bp.errorhandler(Unavailable)
def unavailable(error: Unavailable) -> tuple[Response, int]:
    return jsonify(error=str(error)), 503


def _unix_time(name: str) -> float | None:
    text = request.args.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"{name}: expected unix seconds, got {text!r}")
    return value


def _required(name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise BadRequest(f"{name}: required")
    return value


@bp.get("/api/graph")
def graph() -> Response:
    return jsonify(source().graph(at=_unix_time("at")))


@bp.get("/api/services")
def services() -> Response:
    return jsonify(services=source().services())


@bp.get("/api/services/<path:name>")  # path: names such as host:<comm> or ns/service
def service(name: str) -> Response:
    return jsonify(source().service(name, request.args.get("namespace"), at=_unix_time("at")))


@bp.get("/api/edges")
def edge() -> Response:
    return jsonify(source().edge(_required("client"), _required("server"), request.args.get("client_namespace"),
                                 request.args.get("server_namespace"), at=_unix_time("at")))


@bp.get("/api/changes")
def changes() -> Response:
    return jsonify(source().changes(_unix_time("baseline")))


@bp.get("/api/timeline")
def timeline() -> Response:
    return jsonify(source().timeline())


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    healthy, detail = source().health()
    return jsonify(healthy=healthy, detail=detail), 200 if healthy else 503
