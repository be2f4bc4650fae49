"""Load on nginx from wrk: as fast as it answers, or paced to roughly a rate, keep-alive or one connection per
request. Debian's wrk has no rate option: a Lua `delay()` makes each connection wait between its requests,
so the rate is about connections / (delay + response time). Callers report the rate wrk really made."""
from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass

WRK_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}   # wrk prints 5.00s, 1.00m
CLOSE_SCRIPT = 'wrk.headers["Connection"] = "close"\n'   # nginx closes after answering: a connection per request


@dataclass(frozen=True)
class Load:
    """A wrk setting: `delay_ms` 0 runs as fast as nginx answers; `path` is the nginx location asked
    (tests/helpers/servers.py)."""
    connections: int
    delay_ms: int = 0
    new_connections: bool = False
    path: str = "/ok"

    def script(self) -> str:
        text = CLOSE_SCRIPT if self.new_connections else ""
        if self.delay_ms:
            text += f"function delay() return {self.delay_ms} end\n"
        return text


def wrk(port: int, seconds: float, load: Load = Load(connections=8), scheme: str = "http",
        cpu: int | None = None) -> tuple[int, float]:
    """Requests wrk completed against nginx's `load.path`, and in how many seconds; run on CPU `cpu` if given."""
    with tempfile.NamedTemporaryFile("w", prefix="perf-wrk-", suffix=".lua") as script:
        script.write(load.script())
        script.flush()
        pinned = ["taskset", "-c", str(cpu)] if cpu is not None else []
        out = subprocess.run(pinned + ["wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s", "-s", script.name,
                              f"{scheme}://127.0.0.1:{port}{load.path}"],
                             check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not match:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return int(match[1]), float(match[2]) * WRK_TIME_UNITS[match[3]]
