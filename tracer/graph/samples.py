"""Request samples and TCP events as the edge details list them: parsed, redacted, never raw bytes."""
from __future__ import annotations

from ..capture.records import ConnectFailure, RequestSample, Reset
from ..protocols import ParseErrors, describe
from .classes import NORMAL, request_class


def sample_record(sample: RequestSample, reporter: str, redact: bool, parse_errors: ParseErrors) -> dict:
    """What /api/edges shows of one sampled request."""
    record = describe(sample, redact=redact)
    parse_errors.record(record)
    record["reporter"] = reporter
    record["failed"] = request_class(sample.protocol, sample.status) != NORMAL
    return record


def event_record(event: ConnectFailure | Reset, reporter: str) -> dict:
    if isinstance(event, ConnectFailure):
        return {"time": event.timestamp, "reporter": reporter, "kind": "connect_failure", "reason": event.reason}
    return {"time": event.timestamp, "reporter": reporter, "kind": "reset", "direction": event.direction}
