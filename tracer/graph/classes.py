"""Vizceral traffic classes of a request outcome: the colour of its dot on the map."""
from __future__ import annotations

NORMAL = "normal"
WARNING = "warning"
DANGER = "danger"
CLASSES = (NORMAL, WARNING, DANGER)


def request_class(protocol: str, status: str) -> str:
    """HTTP 1xx-3xx normal, 4xx warning, 5xx (or anything unparsable) danger; Redis and PostgreSQL: any
    status but "ok" is an error, so danger."""
    if protocol == "http":
        if len(status) == 3 and status.isdigit() and status[0] in "123":
            return NORMAL
        return WARNING if status.startswith("4") else DANGER
    return NORMAL if status == "ok" else DANGER
