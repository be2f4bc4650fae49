"""benchmarks/report.py rewrites docs/performance.md's report and keeps its second part, the changes measured one
at a time."""
from benchmarks import report


def test_the_part_from_the_journal_heading_on_is_kept_whole():
    text = "# Performance\n\nold table\n\n# Measured change by change\n\n## A change\n\nnumbers\n"
    assert report.journal(text) == "# Measured change by change\n\n## A change\n\nnumbers\n"


def test_a_report_without_the_heading_keeps_nothing():
    assert report.journal("# Performance\n\n## Measured change by change\n") == ""


def test_the_docs_report_has_its_journal():
    with open(report.OUTPUT) as f:
        kept = report.journal(f.read())
    assert kept.startswith(report.JOURNAL + "\n")
    assert "## After MySQL, HTTP/2, DNS answers and TLS were added" in kept
