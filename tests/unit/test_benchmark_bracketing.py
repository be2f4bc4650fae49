"""Ratios to the untraced runs around each traced run (benchmarks/bracketing.py)."""
import pytest

from benchmarks.bracketing import Round, bracketed_ratio, quartiles, untraced_drifts


def test_each_traced_arm_lies_between_the_untraced_runs_before_and_after_it():
    round_ = Round(untraced=["u0", "u1", "u2"], traced={"floor": "f", "l7": "a"})
    assert round_.bracket("floor") == ("u0", "u1")
    assert round_.bracket("l7") == ("u1", "u2")


def test_a_traced_rate_is_divided_by_the_mean_of_its_neighbours():
    assert bracketed_ratio(90.0, 100.0, 80.0) == pytest.approx(1.0)
    assert bracketed_ratio(93.0, 100.0, 100.0) == pytest.approx(0.93)


def test_a_step_in_throughput_between_rounds_does_not_move_the_ratio():
    slow, fast = Round([80.0, 80.0], {"l7": 76.0}), Round([100.0, 100.0], {"l7": 95.0})
    ratios = [bracketed_ratio(r.traced["l7"], *r.bracket("l7")) for r in (slow, fast)]
    assert ratios == pytest.approx([0.95, 0.95])


def test_untraced_drifts_are_each_run_to_the_one_before():
    assert untraced_drifts([100.0, 110.0, 99.0]) == pytest.approx([1.1, 0.9])
    assert untraced_drifts([100.0]) == []


def test_quartiles_of_several_values_and_of_one():
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)
    assert quartiles([0.95]) == (0.95, 0.95)
