"""benchmarks/profile.py's cuts fit the probes as they are: a cut that no longer matches would stop the report
(benchmarks/report.py) after its other benchmarks had run."""
import pytest

from benchmarks.profile import CUTS, program


@pytest.mark.parametrize("name", [name for name, cuts in CUTS.items() if cuts])
def test_each_cut_matches_the_probes_text_once(name):
    text = program([])
    for old, new in CUTS[name]:
        assert text.count(old) == 1
    assert program(CUTS[name]) != text
