"""benchmarks/perf_lines.py and program_lines.py: a perf sample's address put down to the probes' source line."""
from benchmarks.perf_lines import Attribution, files_of, function_of, line_text
from benchmarks.perf_parts import HOOK
from benchmarks.program_lines import ProgramLines, SourceLine

REWRITTEN = """// BCC's preamble
#line 1 "common.h"
static __always_inline struct sock_info *socket_state(u64 sk)
{
    return bpf_map_lookup_elem((void *)bpf_pseudo_fd(1, -1),
                               &sk);
}
#line 1 "l7_tracepoint.c"
/* a comment (with a parenthesis) */
L7_PARSER(l7_parse_http, PROTO_HTTP, http_on_io, 0)
"""
SYSCALL = ["bpf_trace_run3", "call_trace_sock_recv_length", "sock_recvmsg"]
START = 0xffffffffc0010000
PROGRAM = ProgramLines("sock_recv_lengt", START, 0x100, [START, START + 0x40, START + 0x80],
                       [SourceLine("common.h", 4), SourceLine("common.h", 5), SourceLine("l7_tracepoint.c", 3)])
SYMBOL = "bpf_prog_323515d8ff0a82ad_sock_recv_lengt"


def script(*samples: tuple[int, list[tuple[int, str]]]) -> str:
    """perf script -F period,ip,sym output: a period line, then each frame's address and symbol, leaf first."""
    return "\n".join(f"    {period} \n" + "".join(f"\t{address:x} {symbol}\n" for address, symbol in frames)
                     for period, frames in samples)


def test_a_files_lines_are_counted_from_its_line_directive_as_the_rewriter_left_them():
    files = files_of(REWRITTEN)
    assert files["common.h"][3] == "                               &sk);"   # line 4: the rewriter's added line
    assert function_of(files, SourceLine("/virtual/common.h", 4)) == "common.h: socket_state"
    assert function_of(files, SourceLine("l7_tracepoint.c", 2)) == "l7_tracepoint.c: L7_PARSER"
    assert function_of(files, SourceLine("helpers.h", 7)) == "helpers.h: ?"
    assert line_text(files, SourceLine("common.h", 1)).startswith("common.h:1  static __always_inline")


def test_an_address_is_the_line_whose_code_begins_at_or_before_it_in_its_program():
    assert PROGRAM.line_at(START) == SourceLine("common.h", 4)
    assert PROGRAM.line_at(START + 0x7f) == SourceLine("common.h", 5)
    assert PROGRAM.line_at(START + 0xff) == SourceLine("l7_tracepoint.c", 3)
    assert PROGRAM.line_at(START + 0x100) is None
    assert PROGRAM.line_at(START - 1) is None


def test_own_samples_go_to_their_line_and_calls_to_the_calling_line():
    a = Attribution([PROGRAM])
    a.add(script((100, [(START + 0x10, SYMBOL)] + [(0, s) for s in SYSCALL]),
                 # a helper's sample: the program's frame holds the return address just past the call
                 (300, [(0xffffffff81000000, "copy_from_user_nofault"), (0xffffffff81000100, "bpf_probe_read_user"),
                        (START + 0x80, SYMBOL)] + [(0, s) for s in SYSCALL]),
                 (200, [(0, s) for s in SYSCALL]),
                 (50, [(START + 0x200, SYMBOL)] + [(0, s) for s in SYSCALL]),
                 (1000, [(0, "pv_native_safe_halt")])))
    copies = "copies from user memory: request and response bytes, writev's and sendmsg's iovecs"
    assert a.own == {SourceLine("common.h", 4): 100}
    assert a.calls == {(SourceLine("common.h", 5), copies): 300}
    assert a.inside == {(copies, "bpf_probe_read_user > copy_from_user_nofault"): 300}
    assert a.other == {HOOK: 200, "the programs' own instructions, outside the programs' line info": 50}
