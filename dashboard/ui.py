"""The map page: its HTML shell, our own JavaScript and CSS, and the Vizceral bundle from node_modules.

Everything the page shows comes from the read-only JSON API; this blueprint only serves files.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_from_directory

# Installed by `npm ci` in dashboard/ and copied into the wheel; never committed, never from a CDN.
VIZCERAL_DIST = Path(__file__).resolve().parent / "node_modules" / "vizceral" / "dist"
VIZCERAL_BUNDLE = "vizceral.min.js"

# Everything comes from this server. Vizceral starts its layout worker from a blob: URL, and three.js
# loads Vizceral's particle texture from a data: URL.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

bp = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/ui/static",
)


@bp.get("/")
def index() -> str:
    return render_template("map.html")


@bp.get("/ui/vendor/vizceral.min.js")
def vizceral_bundle() -> Response:
    if not (VIZCERAL_DIST / VIZCERAL_BUNDLE).is_file():
        abort(404, description=f"{VIZCERAL_DIST / VIZCERAL_BUNDLE} is missing: run `npm ci` in dashboard/")
    return send_from_directory(VIZCERAL_DIST, VIZCERAL_BUNDLE, mimetype="text/javascript")
