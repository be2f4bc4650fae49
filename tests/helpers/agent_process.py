"""The agent as its own process, `python -m tracer agent` on a free loopback port, as a user starts it: for
tests that kill it, restart it or measure its memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import requests

from tests.helpers.docker_env import wait_until
from tests.helpers.servers import free_port

START_SECONDS = 120  # compiling the probes takes seconds, more on a busy 2-core VM


class AgentProcess:
    def __init__(self):
        self.url = f"http://127.0.0.1:{free_port()}"
        self._log = tempfile.TemporaryFile()  # unread output must not fill a pipe and stall the agent
        self.process = subprocess.Popen([sys.executable, "-m", "tracer", "agent", "--listen", self.url[7:]],
                                        stdout=self._log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, START_SECONDS, "the agent to answer /healthz with 200")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the agent exited with {self.process.returncode}: {self.log()}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def program_ids(self) -> set[int]:
        """The BPF programs this process holds, from its file descriptors' fdinfo."""
        return self._fdinfo_ids("prog_id:")

    def map_keys(self, name: str) -> list[bytes]:
        """The keys of this process's BPF map `name`, as `bpftool map dump` reads them."""
        ids = self._fdinfo_ids("map_id:")
        shown = json.loads(subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True,
                                          check=True).stdout)
        map_id = next(m["id"] for m in shown if m["id"] in ids and m.get("name") == name)
        dumped = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)],
                                           capture_output=True, text=True, check=True).stdout)
        return [bytes(int(byte, 16) for byte in entry["key"]) for entry in dumped]

    def listeners(self) -> set[tuple[int, int]]:
        """(network namespace inode, port) of each entry of the listeners map (probes/common.h, listener_key)."""
        return {(int.from_bytes(key[:8], "little"), int.from_bytes(key[8:10], "little"))
                for key in self.map_keys("listeners")}

    def _fdinfo_ids(self, field: str) -> set[int]:
        ids = set()
        fdinfo = f"/proc/{self.process.pid}/fdinfo"
        for fd in os.listdir(fdinfo):
            try:
                with open(f"{fdinfo}/{fd}") as f:
                    ids.update(int(line.split()[1]) for line in f if line.startswith(field))
            except FileNotFoundError:
                continue
        return ids

    def rss_kib(self) -> int:
        """Resident memory, VmRSS from /proc/<pid>/status."""
        with open(f"/proc/{self.process.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self._log.close()
