"""Drains the probes' maps and ring buffer into plain records (tracer/capture/records.py), once a second.

All BCC calls happen in the thread that calls start()/drain()/close(). The ring-buffer callback only
copies bytes; decoding happens in drain(), and an exception anywhere is raised there, never swallowed.
"""
from __future__ import annotations

import ctypes as ct
import logging
import time

from . import flows
from .probe_constants import LOST_COUNTERS
from .counter_maps import CounterMap
from .kernel import CgroupLayout
from .known_namespaces import KnownNamespaces
from .loader import (CaptureConfig, ProbeInfo, adopt_tls, attach_tls, detach_all, forget_namespaces, load,
                     module_maps, store_listeners)
from ..protocols import http2_streams
from .records import DnsAnswer, Drain, FlowCounters, FlowDelta, HeaderPiece, RequestCounts
from .request_slots import RequestSlots
from .socket_bytes import OpenSockets, SocketBytes
from .tls_libraries import Library, LibraryScan
from .tls_process import TlsBuild

log = logging.getLogger(__name__)
# the probes' own counters, then the kernel's count of skipped program runs
LOST_SOURCES = (*LOST_COUNTERS.values(), "bpf_recursion")
MAP_NAMES = ("sockets", "closed_sockets", "flows", "listeners")
L7_MAP_NAMES = ("requests", "h2_sockets")
# seconds; counting walks every key, too costly for each drain. The same pass deletes gone namespaces' marks.
MAP_COUNT_INTERVAL = 10.0


class Collector:
    def __init__(self, capture: CaptureConfig | None = None, cgroup_layout: CgroupLayout | None = None):
        self.capture = capture or CaptureConfig()
        self._cgroup_layout = cgroup_layout  # None: detect
        self.probe_info: ProbeInfo | None = None
        self._bpf = None
        self._raw_events: list[bytes] = []
        self._callback_error: BaseException | None = None
        self._lost_seen = [0] * len(LOST_SOURCES)
        self.map_entries: dict[str, int] = {}  # map -> entries, for intuition_bpf_map_entries
        self.parse_errors: dict[str, int] = {}  # protocol -> malformed messages since start (kernel's count)
        self._map_names = MAP_NAMES
        self._map_counted = 0.0
        self._known_namespaces: KnownNamespaces | None = None  # whose listeners were read at start
        self._flow_counters: CounterMap | None = None
        self._open_sockets: OpenSockets | None = None
        self._socket_bytes = SocketBytes()
        self._request_counters: RequestSlots | None = None
        self._prog_fds: list[int] = []
        self._http2 = http2_streams.Http2Streams()
        self._tls_build: TlsBuild | None = None  # the child process building the TLS programs, until installed
        self._tls_scan: LibraryScan | None = None
        self.tls_libraries: list[Library] = []  # the libssl files with uprobes
        self._tls_links: list[int] = []  # the uprobe links on them (loader.attach_tls)

    def start(self) -> None:
        self._bpf, self.probe_info = load(self.capture, self._cgroup_layout)
        # the probes name namespaces by inode number only with BTF (probes/lifecycle.c, socket_netns)
        if self.probe_info.btf:
            self._known_namespaces = store_listeners(self._bpf)
        self._bpf[b"events"].open_ring_buffer(self._on_event)
        self._flow_counters = CounterMap(self._bpf[b"flows"])
        self._open_sockets = OpenSockets(self._bpf[b"socket_slots"], self._bpf[b"overflow_slots_used"],
                                         self.capture.max_sockets)
        self._prog_fds = [fn.fd for fn in self._bpf.funcs.values()]
        if self.probe_info.l7:
            self._request_counters = RequestSlots.of(self._bpf, self.capture.max_flows)
            self._map_names = MAP_NAMES + L7_MAP_NAMES
        if self.probe_info.tls:
            # The start does not wait for the TLS programs (docs/performance.md): a child process compiles and
            # verifies them meanwhile, and the first drain after that installs them and attaches the libraries.
            attach_type = self.probe_info.uprobe_multi or -1   # uprobe-multi links where the kernel has them
            self._tls_build = TlsBuild(module_maps(self._bpf), self.probe_info.cflags, attach_type,
                                       self.capture.program_cache)

    @property
    def tls_pending(self) -> bool:
        """TLS plaintext will be parsed once its programs, still being compiled or verified, are installed."""
        return self._tls_build is not None

    def _install_tls_when_built(self) -> None:
        try:
            programs = self._tls_build.result()
            if programs is None:
                return  # still compiling or verifying
            self._tls_build = None
            adopt_tls(self._bpf, self.probe_info, programs)
        except Exception as e:  # the child's compile error or verifier refusal, or BCC's bare Exception
            self._tls_build = None
            log.error("TLS plaintext is not parsed, its traffic counts as bytes only: %s", e)
            self.probe_info.tls = False
            return
        self._prog_fds = [fn.fd for fn in self._bpf.funcs.values()]
        self._tls_scan = LibraryScan()

    def _attach_tls_libraries(self) -> None:
        """Uprobes on the libssl files that processes started mapping since the last scan (BCC's thread)."""
        for library in self._tls_scan.new_libraries():
            attached, links = attach_tls(self._bpf, self.probe_info, library.path)
            self._tls_links += links
            if attached:
                self.tls_libraries.append(library)
                self.probe_info.hooks["libssl:SSL_read,SSL_write"] = "uprobe"
            else:
                log.warning("no uprobe on the OpenSSL calls of %s: its TLS traffic counts as bytes only", library.path)

    def _on_event(self, _ctx, data, size) -> int:
        try:
            self._raw_events.append(ct.string_at(data, size))
        except BaseException as e:  # ctypes would swallow it; drain() re-raises
            self._callback_error = e
        return 0

    def drain(self) -> Drain:
        """Everything counted since the previous call. Flow counters are deltas."""
        if self._bpf is None:
            raise RuntimeError("Collector.drain() before start()")
        if self._tls_build is not None:
            self._install_tls_when_built()
        if self._tls_scan is not None:
            self._attach_tls_libraries()
        now = time.time()
        out = Drain(timestamp=now)
        deltas = {}
        for delta in self._flow_deltas():
            deltas.setdefault(delta.key, FlowDelta(key=delta.key)).counters.add(delta.counters)
        if self._request_counters is not None:
            self._drain_requests(deltas)
        # events after counters: a probe counts first and emits second, so the event of a counted failure
        # is in the ring buffer by now
        self._bpf.ring_buffer_consume()
        if self._callback_error is not None:
            error, self._callback_error = self._callback_error, None
            raise error
        raw_events, self._raw_events = self._raw_events, []
        wall_offset = now - time.monotonic()
        pieces = []
        for event in (flows.decode_event(raw, wall_offset) for raw in raw_events):
            if isinstance(event, HeaderPiece):
                pieces.append(event)
            else:
                (out.dns if isinstance(event, DnsAnswer) else out.events).append(event)
        out.events += self._http2_requests(pieces, deltas, wall_offset)
        out.flows = list(deltas.values())
        out.lost = self._lost_delta()
        if self._request_counters is not None:
            self.parse_errors = self._parse_error_totals()
            self.parse_errors["http2"] += self._http2.parse_errors
        drained = time.monotonic()
        if drained - self._map_counted >= MAP_COUNT_INTERVAL:
            if self._known_namespaces is not None:
                forget_namespaces(self._bpf, self._known_namespaces.gone())
            self.map_entries = {name: sum(1 for _ in self._bpf[name.encode()].keys()) for name in self._map_names}
            self.map_entries["sockets"] = sum(1 for _ in self._open_sockets.states())   # live sockets, in either part
            self._map_counted = drained
        return out

    def _flow_deltas(self) -> list[FlowDelta]:
        """The flows map's deltas with their open sockets' bytes folded in (tracer/capture/socket_bytes.py)."""
        changed = list(self._flow_counters.deltas())  # flows before sockets
        reported = self._socket_bytes.fold({bytes(key): (stats.bytes_sent, stats.bytes_received)
                                            for key, stats in changed}, self._open_sockets.byte_counts())
        out = []
        for key, stats in changed:
            stats.bytes_sent, stats.bytes_received = reported.pop(bytes(key), (0, 0))
            out.append(flows.decode_flow(key, stats))
        for key, (sent, received) in reported.items():  # flows whose only news is their open sockets' bytes
            out.append(FlowDelta(key=flows.decode_key(flows.FlowKeyStruct.from_buffer_copy(key)),
                                 counters=FlowCounters(bytes_sent=sent, bytes_received=received)))
        return out

    def _drain_requests(self, deltas: dict) -> None:
        """Fold the requests map into the flows' deltas; a flow with requests but no counters gets one."""
        for raw_key, raw_stats in self._request_counters.deltas():
            key, status_key, counts = flows.decode_request(raw_key, raw_stats)
            deltas.setdefault(key, FlowDelta(key=key)).requests.setdefault(status_key, RequestCounts()).add(counts)

    def _http2_requests(self, pieces: list[HeaderPiece], deltas: dict, wall_offset: float) -> list:
        """Count the HTTP/2 and gRPC requests that these header block pieces complete; returns their samples."""
        done = self._http2.feed(pieces, time.monotonic_ns())
        for request in done:
            requests = deltas.setdefault(request.key, FlowDelta(key=request.key)).requests
            requests.setdefault((request.protocol, request.status), RequestCounts()).count_one(request.latency_us)
        return http2_streams.samples(done, self.capture.samples_per_second, wall_offset)

    def _parse_error_totals(self) -> dict[str, int]:
        table = self._bpf[b"parse_errors"]
        return {name: sum(table.getvalue(table.Key(index))) for index, name in flows.PROTOCOLS.items()}

    def _lost_delta(self) -> dict[str, int]:
        table = self._bpf[b"lost"]
        totals = [sum(table.getvalue(table.Key(index))) for index in range(len(LOST_SOURCES) - 1)]
        totals.append(self._recursion_misses())
        delta = {}
        for index, source in enumerate(LOST_SOURCES):
            delta[source] = totals[index] - self._lost_seen[index]
            self._lost_seen[index] = totals[index]
        return delta

    def _recursion_misses(self) -> int:
        """Runs of our programs the kernel skipped because another BPF program was running on that CPU."""
        misses = 0
        for fd in self._prog_fds:
            try:
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("recursion_misses:"):
                            misses += int(line.split()[1])
            except OSError:
                continue
        return misses

    def close(self) -> None:
        if self._tls_build is not None:
            self._tls_build.close()
            self._tls_build = None
        if self._bpf is not None:
            detach_all(self._bpf, self._tls_links)
            self._bpf = None
            self._tls_links = []
