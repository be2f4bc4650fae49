"""benchmarks/overhead.py's summary of bracketed rounds."""
import pytest

from benchmarks.bracketing import Round
from benchmarks.overhead import Run, summarise


def run(rate: float, load_cpu_us: float = 10.0) -> Run:
    return Run(requests=int(rate), seconds=1.0, load_cpu_us=load_cpu_us, server_cpu_us=load_cpu_us / 2)


def test_ratios_are_to_the_untraced_runs_around_each_arm_and_untraced_to_the_run_before():
    rounds = [Round(untraced=[run(100), run(80), run(80)], traced={"floor": run(90), "l7": run(76, 12.0)}),
              Round(untraced=[run(100), run(100), run(110)], traced={"floor": run(100), "l7": run(100, 13.0)})]
    summary = summarise(rounds)
    assert summary.ratio["floor"] == pytest.approx(1.0)
    assert summary.spread["l7"] == pytest.approx((0.95, 100 / 105))
    assert summary.ratio["untraced"] == pytest.approx(1.0)   # of 0.8, 1.0, 1.0, 1.1
    assert summary.spread["untraced"] == pytest.approx((0.8, 1.1))
    assert summary.rate["untraced"] == 100
    assert summary.added_cpu_us["l7"] == pytest.approx(2.5)
    assert summary.added_cpu_us["untraced"] == 0.0
    assert summary.server_added_us["l7"] == pytest.approx(1.25)

