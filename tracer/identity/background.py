"""One worker thread for identity's slow jobs, so that lookups from the drain thread never wait."""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Hashable, Optional

log = logging.getLogger(__name__)


class Background:
    """Runs submitted jobs in order (a key already waiting is not queued twice) and a periodic job."""

    def __init__(self, name: str, periodic: Callable[[], None], period: float):
        self._name = name
        self._periodic = periodic
        self._period = period
        self._jobs: queue.Queue = queue.Queue()
        self._waiting: set[Hashable] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def submit(self, key: Hashable, job: Callable[[], None]) -> None:
        with self._lock:
            if key in self._waiting:
                return
            self._waiting.add(key)
        self._jobs.put((key, job))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        next_periodic = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_periodic:
                self._guarded(self._periodic)
                next_periodic = now + self._period
            try:
                item = self._jobs.get(timeout=max(0.0, next_periodic - time.monotonic()))
            except queue.Empty:
                continue
            if item is None:
                break
            key, job = item
            with self._lock:
                self._waiting.discard(key)
            self._guarded(job)

    def _guarded(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # a bug in one job must not stop identity: say so loudly and go on
            log.exception("identity background job %r failed", job)

