"""benchmarks/throughput.py's slices, and its rounds, whose arms ran in rotating order, summarised by
benchmarks/overhead.py."""
import pytest

from benchmarks import throughput
from benchmarks.bracketing import Round
from benchmarks.overhead import Run, summarise
from benchmarks.throughput import ARM_TITLES, report
from tests.helpers.servers import Nginx


def run(rate: float, server_cpu_us: float = 10.0) -> Run:
    return Run(requests=int(rate), seconds=1.0, server_cpu_us=server_cpu_us)


def test_each_arm_is_compared_with_the_untraced_runs_around_it_whatever_the_order():
    rounds = [Round(untraced=[run(100), run(100), run(80), run(80)],
                    traced={"floor": run(100), "l4": run(90), "l7": run(72, 11.0)}),
              Round(untraced=[run(100), run(120), run(100), run(100)],
                    traced={"l4": run(110), "l7": run(99, 12.0), "floor": run(100)})]
    summary = summarise(rounds)
    assert summary.ratio["floor"] == pytest.approx(1.0)
    assert summary.spread["l4"] == pytest.approx((1.0, 1.0))
    assert summary.spread["l7"] == pytest.approx((0.9, 0.9))
    assert summary.ratio["untraced"] == pytest.approx(1.0)   # of 1.0, 0.8, 1.0, 1.2, 0.833, 1.0
    assert summary.server_added_us["l7"] == pytest.approx(1.5)   # 1.0 and 2.0
    assert summary.server_cpu_us["l7"] == pytest.approx(11.5)
    assert summary.server_cpu_us["untraced"] == 10.0
    lines = report(summary, len(rounds)).splitlines()
    assert [line.split("  ")[0] for line in lines[1:5]] == list(ARM_TITLES.values())
    assert "median over 2 rounds" in lines[5]


def test_a_slice_counts_the_access_log_lines_nginx_wrote_meanwhile_and_its_workers_cpu(tmp_path, monkeypatch):
    log = tmp_path / "access.log"
    log.write_text("200\n" * 5)
    nginx = Nginx(port=0, access_log=str(log), pid=0)
    busy = {"seconds": 1.0}

    def slept(seconds):
        assert seconds == 0.1
        log.write_text(log.read_text() + "200\n" * 40)
        busy["seconds"] += 0.002

    monkeypatch.setattr(throughput.time, "sleep", slept)
    monkeypatch.setattr(throughput, "on_cpu_seconds", lambda pid: busy["seconds"] * pid)
    run = throughput.slice_run(nginx, [1, 2], 0.1)
    assert run.requests == 40
    assert run.server_cpu_us == pytest.approx(0.006 / 40 * 1e6)   # both workers: 2 ms and 4 ms


def test_a_slice_without_requests_stops_the_benchmark(tmp_path, monkeypatch):
    log = tmp_path / "access.log"
    log.write_text("200\n")
    monkeypatch.setattr(throughput.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(throughput, "on_cpu_seconds", lambda pid: 0.0)
    with pytest.raises(SystemExit, match="no request"):
        throughput.slice_run(Nginx(port=0, access_log=str(log), pid=0), [1], 0.1)


def test_the_report_names_other_arms_in_a_column_as_wide_as_their_longest_title():
    long_title = "+ parsing, without keeping request bytes for samples (a cut of benchmarks/profile.py)"
    summary = summarise([Round(untraced=[run(100), run(100)], traced={"cut": run(90)})])
    lines = report(summary, 1, {"untraced": ARM_TITLES["untraced"], "cut": long_title}).splitlines()
    assert lines[2].startswith(long_title + " ")
    assert lines[1].index(" 1.000 ") == lines[2].index(" 0.900 ") == len(long_title) + 1   # after a padding space
