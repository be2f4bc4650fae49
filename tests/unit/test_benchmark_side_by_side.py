"""The runner the agent benchmarks share (benchmarks/side_by_side.py): the --before tree and the command line."""
import os
import subprocess

import pytest

from benchmarks import overhead, side_by_side


def test_this_tree_first_and_the_before_tree_only_when_given():
    assert side_by_side.trees(None) == {"this tree": side_by_side.ROOT}
    assert list(side_by_side.trees("/tmp/before").items()) == [("this tree", side_by_side.ROOT),
                                                               ("previous design", "/tmp/before")]


def test_the_before_tree_holds_the_commits_files_and_is_removed_after():
    committed = subprocess.run(["git", "-C", side_by_side.ROOT, "show", "HEAD:benchmarks/side_by_side.py"],
                               check=True, capture_output=True, text=True).stdout
    with side_by_side.source_tree("HEAD") as tree:
        with open(os.path.join(tree, "benchmarks", "side_by_side.py")) as f:
            assert f.read() == committed
    assert not os.path.exists(tree)


def test_an_unknown_ref_fails_the_export():
    with pytest.raises(subprocess.CalledProcessError):
        with side_by_side.source_tree("s5pkg-no-such-ref"):
            pass


def test_the_benchmarks_own_options_are_checked_before_anything_runs(capsys):
    ran = []
    with pytest.raises(SystemExit) as exit_:
        side_by_side.run(overhead.__doc__, ["--rounds", "0"], overhead.options, lambda *a: ran.append(a))
    assert exit_.value.code == 2
    assert "argument --rounds: must be at least 1" in capsys.readouterr().err
    assert ran == []


def test_the_benchmark_gets_its_options_and_no_tree_without_before(capsys, monkeypatch):
    monkeypatch.setattr(side_by_side.os, "geteuid", lambda: 0)
    assert side_by_side.run(overhead.__doc__, ["--rounds", "2"], overhead.options,
                            lambda args, before: f"rounds {args.rounds}, before {before}") == 0
    assert capsys.readouterr().out == "rounds 2, before None\n"


def test_without_root_it_says_why_and_runs_nothing(capsys, monkeypatch):
    monkeypatch.setattr(side_by_side.os, "geteuid", lambda: 1000)
    ran = []
    with pytest.raises(SystemExit):
        side_by_side.run(overhead.__doc__, [], overhead.options, lambda *a: ran.append(a), needs_root="it must")
    assert "needs root: it must" in capsys.readouterr().err
    assert ran == []
