"""The probe texts each module compiles (tracer/capture/loader.py): BCC's rewriter never sees a call to a function
named bpf_probe_read_user, whose check cost each compile about a third of a second (probes/l7_payload.c)."""
import re

import pytest

from tracer.capture import loader

USER_READ = re.compile(r"\bbpf_probe_read_user\b")
COMMENT = re.compile(r"/\*.*?\*/", re.S)
RENAMED = "#define bpf_probe_read_user read_user_memory"


def code(text: str) -> str:
    """The text without its comments, which name the helper too."""
    return COMMENT.sub("", text)


MODULES_THAT_READ_USER_MEMORY = {
    "start, L7 on": loader.program_text(use_kprobes=False, l7=True),
    "parsers": loader.source_text(loader.PARSER_SOURCES),
    "TLS uprobes": loader.source_text(loader.TLS_SOURCES),
}


@pytest.mark.parametrize("module", sorted(MODULES_THAT_READ_USER_MEMORY))
def test_user_reads_come_after_the_helpers_own_name(module):
    text = code(MODULES_THAT_READ_USER_MEMORY[module])
    first = USER_READ.search(text)
    assert first is not None
    line = text[text.rfind("\n", 0, first.start()) + 1:text.find("\n", first.start())]
    assert line == RENAMED
    assert len(USER_READ.findall(text)) > 2  # the define, and the reads it renames


@pytest.mark.parametrize("use_kprobes", [False, True])
def test_the_start_without_l7_reads_no_user_memory(use_kprobes):
    assert not USER_READ.search(code(loader.program_text(use_kprobes, l7=False)))
