"""The five L7 parser programs (probes/l7_tracepoint.c, the sock length raw tracepoints' tail-call targets),
compiled and verified in a child process while the agent compiles the start's module, so that a first start on a
host (nothing in the program cache) runs clang on both cores (tracer/capture/build_child.py, docs/performance.md).

The child is started first. It compiles the parsers with the shared sources as a module of their own (or, from
the program cache, their maps only), sends its maps' descriptors, then verifies the parsers on those maps and
sends theirs. The agent makes each of its start's module's maps of those names the child's (dup2) before its own
programs load, so that both modules' programs share every map; then it installs the parsers in `l7_parsers`, as
it did when it compiled them. The request: the flags, the program cache's directory, and the prototypes of the
sock length hooks where they are BTF-typed (loader.ProbeInfo.sock_length_btf: the parsers are then tracing
programs, of the hooks' kind).
"""
from __future__ import annotations

import os
import sys

from . import loader
from .build_child import ChildBuild, Send, serve

MAX_DESCRIPTORS = 64  # the parser module's maps (about 20), then its five programs


class ParserBuild(ChildBuild):
    """The child process that builds the parsers, seen from loader.load: share_maps(), then programs(), then close()."""

    def __init__(self, cflags: list[str], program_cache: str, sock_length_btf: dict[str, int]):
        super().__init__(__name__, "the L7 parsers' build process",
                         {"cflags": cflags, "program_cache": program_cache, "sock_length_btf": sock_length_btf},
                         [], MAX_DESCRIPTORS)
        self._maps: dict[str, int] | None = None  # the child's maps by name, once it sent them

    def close(self) -> None:
        super().close()
        for fd in (self._maps or {}).values():
            os.close(fd)
        self._maps = {}

    def share_maps(self, start_module) -> None:
        """Make the start's module's maps the parser module's, by name, before its programs load (waits for the
        child's compile; a start whose cached programs the kernel refused compiles, and calls it again). Raises
        ProbeError with the child's reason when it failed, or for a map the start's module lacks (its sources are
        the start's: a bug)."""
        if self._maps is None:
            self._maps = self.answer(wait=True)
        own = loader.module_maps(start_module)
        missing = sorted(set(self._maps) - set(own))
        if missing:
            self.close()  # its parsers would count in maps nobody reads
            raise loader.ProbeError(f"map {missing[0]} of the L7 parsers' module is not in the start's module")
        for name, fd in self._maps.items():
            os.dup2(fd, own[name], inheritable=False)

    def programs(self) -> dict[str, int] | None:
        """The parsers the child verified, descriptors by name (a parser the verifier refused is left out, and
        the child logged why); the child is gone after it. None where it had ended before (share_maps raised).
        Raises ProbeError with its reason when it failed now."""
        if self.ended:
            return None
        programs = self.answer(wait=True)
        self.close()
        return programs


def _build(request: dict, send: Send) -> None:
    """The parser module's maps sent as soon as they exist, before any program loads (the agent's start waits for
    them), then its parsers, verified: from the program cache where it holds them, else compiled, and cached."""
    sent: dict[str, int] = {}

    def share_maps(module) -> None:
        maps = loader.module_maps(module)
        if sent:  # a cache entry the kernel refused after its maps went to the agent: the compile takes them over
            for name, fd in maps.items():
                os.dup2(sent[name], fd, inheritable=False)
            return
        sent.update({name: os.dup(fd) for name, fd in maps.items()})
        send(maps)

    module = loader.build_module(loader.source_text(loader.PARSER_SOURCES), request["cflags"],
                                 request["program_cache"], loader.PARSER_MODULE, share_maps)
    loaded = loader.verify_l7_parsers(module.b, request["sock_length_btf"])
    module.save()
    send({name: fn.fd for name, fn in loaded.items() if fn is not None})

if __name__ == "__main__":
    sys.exit(serve(_build))
