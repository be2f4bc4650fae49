"""The TLS uprobes' programs and their copy of the parsers (probes/l7_tls_uprobes.c), compiled and verified in a
child process after the start (tracer/capture/build_child.py), so that neither the start nor a stop waits for them
(docs/performance.md).

The child compiles the programs as a BPF module of its own with the start's flags and, before any of them loads,
makes each of its maps the start's: it gets the start's map descriptors (pass_fds) and dup2s each onto its own map
of that name, since the kernel takes a program's maps from the descriptors BCC compiled into its instructions. It
sends the loaded programs' descriptors back and exits; the collector's drain installs them (loader.adopt_tls).
Where the program cache holds the module's programs (tracer/capture/program_cache.py), the child compiles the maps
only and loads them. The request: flags, maps, attach type, the program cache's directory.
"""
from __future__ import annotations

import os
import sys

from . import kfuncs, loader
from .build_child import ChildBuild, Send, serve
from .loader import L7_TLS_PARSERS, TLS_CALLS, ProbeError

MAX_PROGRAMS = len(L7_TLS_PARSERS) + len(TLS_CALLS) + 1  # the parsers, the entry programs and the return


class TlsBuild(ChildBuild):
    """The child process that builds the TLS programs. Start it once the start's module is loaded; call result()
    from the drain and close() at the stop, in the thread that made it."""

    def __init__(self, maps: dict[str, int], cflags: list[str], attach_type: int, program_cache: str):
        # the uprobe programs are loaded by BCC, which resolves no kfunc call: they keep the helpers
        super().__init__(__name__, "the TLS programs' build process",
                         {"cflags": kfuncs.without(cflags), "maps": maps, "attach_type": attach_type, "program_cache": program_cache},
                         list(maps.values()), MAX_PROGRAMS)

    def result(self) -> dict[str, int] | None:
        """The loaded programs' descriptors by name, once the child sent them; None while it works. Raises
        ProbeError with the child's reason when it failed. After an answer the child is gone."""
        programs = self.answer()
        if programs is not None:
            self.close()
        return programs


def _share_maps(module, start_maps: dict[str, int]) -> None:
    """Make each map of the TLS module the start's map of its name; raises ProbeError for a map the start's
    module lacks (the uprobes would count where the tracepoints and the drain never look)."""
    for name, fd in loader.module_maps(module).items():
        if name not in start_maps:
            raise ProbeError(f"map {name} of the TLS uprobes' module is not in the start's module")
        os.dup2(start_maps[name], fd, inheritable=False)


def _build(request: dict, send: Send) -> None:
    """The TLS module's programs loaded: from the program cache where it holds them (loader.build_module), else
    compiled, and then cached."""
    def share_maps(module) -> None:
        _share_maps(module, request["maps"])

    module = loader.build_module(loader.source_text(loader.TLS_SOURCES), request["cflags"], request["program_cache"],
                                 loader.TLS_MODULE, share_maps)
    programs = loader.load_tls(module.b, request["attach_type"])
    module.save(request["attach_type"])
    send(programs)


if __name__ == "__main__":
    sys.exit(serve(_build))
