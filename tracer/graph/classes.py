"""Vizceral traffic classes of a request outcome: the colour of its dot on the map."""
from __future__ import annotations

NORMAL = "normal"
WARNING = "warning"
DANGER = "danger"
CLASSES = (NORMAL, WARNING, DANGER)


def request_class(protocol: str, status: str) -> str:
    """HTTP and HTTP/2 1xx-3xx normal, 4xx warning, 5xx (or anything unparsable) danger; gRPC: any status but
    "OK" danger; Redis and PostgreSQL: any status but "ok" is an error, so danger."""
    if protocol == "grpc":
        return NORMAL if status == "OK" else DANGER
    if protocol in ("http", "http2"):
        if len(status) == 3 and status.isdigit() and status[0] in "123":
            return NORMAL
        return WARNING if status.startswith("4") else DANGER
    return NORMAL if status == "ok" else DANGER
