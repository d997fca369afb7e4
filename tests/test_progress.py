import io
import logging
import math
import re
import sys

import pytest
from sklearn.datasets import make_classification

import sktune
from sktune import ConfigSpace, _measure
from sktune._progress import NoProgress, ProgressBar, progress_bar
from sktune.profilers import CPUTimeProfiler, WallClockProfiler

from _helpers import CostlyEstimator, FakeClock


class FakeTTY(io.StringIO):
    """A stream that says it is a terminal and remembers what was written."""

    def isatty(self):
        return True


def _screen(text):
    """What a terminal shows: each line as left by its last ``\\r``."""
    return [line.split("\r")[-1].rstrip() for line in text.split("\n")]


@pytest.mark.parametrize("stream, verbose", [(FakeTTY(), 0), (io.StringIO(), 1)],
                         ids=["verbose-0", "not-a-terminal"])
def test_progress_bar_silent_unless_verbose_terminal(stream, verbose):
    # Check that the display is a no-op with verbose=0 or when the output is
    # not a terminal, and writes nothing.
    progress = progress_bar(verbose, stream=stream)
    assert type(progress) is NoProgress and progress.log_stream is None
    progress.start(3, 20.0)
    progress.update("as written", 0, 1.0)
    progress.close()
    assert stream.getvalue() == ""


def test_progress_bar_active_on_terminal():
    # Check that verbose >= 1 on a terminal gives a bar that is also the log stream.
    stream = FakeTTY()
    progress = progress_bar(1, stream=stream)
    assert isinstance(progress, ProgressBar) and progress.log_stream is progress


def test_progress_bar_shows_what_and_budget_left():
    # Check that one update rewrites the line in place with what is timed,
    # the rounds done and the budget left, and that close ends the line.
    stream, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(stream, clock=clock)
    bar.start(4, 20.0)
    bar.update("n_jobs=2, backend=loky", 1, 5.0)
    clock.advance(1.0)
    bar.update("as written", 2, 15.0)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert "n_jobs=2, backend=loky" in text and "15.0 s of 20.0 s left" in text
    line = _screen(text)[0]
    assert line == "sktune [#########---]  75% round 3 | as written | 5.0 s of 20.0 s left"


def test_progress_bar_redraws_at_most_every_min_interval():
    # Check that updates closer than min_interval on the clock are not drawn,
    # but the last state still is when the bar closes.
    stream, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(stream, clock=clock, min_interval=0.1)
    bar.start(2, 10.0)
    bar.update("first", 0, 0.0)
    clock.advance(0.01)
    bar.update("second", 0, 0.01)
    assert "first" in stream.getvalue() and "second" not in stream.getvalue()
    clock.advance(0.2)
    bar.update("third", 1, 0.21)
    assert "third" in stream.getvalue()
    clock.advance(0.01)
    bar.update("fourth", 1, 0.22)
    bar.close()
    assert "| fourth |" in _screen(stream.getvalue())[0]


def test_progress_bar_pads_over_a_longer_line():
    # Check that a shorter line overwrites the whole previous one ("\r" does
    # not erase what it does not cover).
    stream, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(stream, clock=clock, min_interval=0.0)
    bar.start(2, math.inf)
    bar.update("a" * 30, 0, 1.0)
    first = len(_screen(stream.getvalue())[0])
    bar.update("b", 0, 2.0)
    last_draw = stream.getvalue().split("\r")[-1]
    assert len(last_draw) == first and "aaa" not in last_draw
    assert "2.0 s, no limit" in last_draw


def test_progress_bar_without_time_limit_counts_rounds():
    # Check that without a time budget the fraction done follows the rounds.
    bar = ProgressBar(FakeTTY())
    bar.start(3, math.inf, max_rounds=8)
    assert bar.fraction(2, 1000.0) == 0.25
    bar.start(3, 10.0, max_rounds=8)
    assert bar.fraction(2, 5.0) == 0.5 and bar.fraction(8, 50.0) == 1.0


def test_progress_bar_truncates_long_descriptions():
    # Check that a long configuration is shortened so the line stays short.
    bar = ProgressBar(FakeTTY())
    bar.start(2, 10.0)
    line = bar.format("x" * 200, 0, 1.0)
    assert "x" * 29 + "... |" in line and len(line) <= 100


def test_progress_bar_log_messages_print_above_it():
    # Check that a log record written through the bar clears the line, is
    # printed on its own line, and the bar is drawn again below it.
    stream, clock = FakeTTY(), FakeClock()
    bar = ProgressBar(stream, clock=clock)
    logger = logging.getLogger("sktune.tests.progress")
    handler = logging.StreamHandler(bar.log_stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        bar.start(2, 10.0)
        bar.update("as written", 0, 1.0)
        logger.warning("round 1 done")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    bar.close()
    screen = _screen(stream.getvalue())
    assert screen[0] == "round 1 done"
    assert "| as written |" in screen[1] and screen[2] == ""


def test_progress_bar_close_twice_and_unused():
    # Check that close is idempotent and that a bar never updated writes nothing.
    stream = FakeTTY()
    bar = ProgressBar(stream)
    bar.start(2, 10.0)
    bar.close()
    bar.close()
    assert stream.getvalue() == ""


def test_progress_bar_context_shows_done_or_last_state():
    # Check that leaving the block normally shows the run complete with the
    # time it took on the clock, and that an error leaves the last state.
    stream, clock = FakeTTY(), FakeClock()
    with ProgressBar(stream, clock=clock) as bar:
        bar.start(3, 10.0)
        bar.update("as written", 0, 0.5)
        clock.advance(4.0)
    assert _screen(stream.getvalue()) == [
        "sktune [############] 100% done: 3 candidates measured in 4.0 s", ""]
    stream = FakeTTY()
    with pytest.raises(KeyboardInterrupt), ProgressBar(stream, clock=clock) as bar:
        bar.start(3, 10.0)
        bar.update("as written", 0, 0.5)
        raise KeyboardInterrupt
    assert _screen(stream.getvalue())[0].endswith("| as written | 9.5 s of 10.0 s left")
    assert stream.getvalue().endswith("\n")


@pytest.mark.parametrize("verbose", [0, 1])
def test_profile_progress_bar_on_terminal_only_if_verbose(monkeypatch, verbose):
    # Check that profile() drives the bar on a terminal stderr with verbose=1
    # (candidates, budget, the end of the line), draws nothing with verbose=0,
    # and leaves the sktune logger as it found it.
    clock = FakeClock()
    monkeypatch.setattr(_measure, "_now", clock)
    stderr = FakeTTY()
    monkeypatch.setattr(sys, "stderr", stderr)
    logger = logging.getLogger("sktune")
    handlers, level = list(logger.handlers), logger.level
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    est = CostlyEstimator(clock=clock, cost={1: 1.0, 2: 0.5})
    profilers = [CPUTimeProfiler(cpu_clock=clock), WallClockProfiler(clock=clock)]
    sktune.profile(est, X, y, space=ConfigSpace(n_jobs=[1, 2], backend=["threading"]),
                   budget="quick", verbose=verbose, profilers=profilers, isolation="none")
    assert logger.handlers == handlers and logger.level == level
    text = stderr.getvalue()
    if not verbose:
        assert text == ""
        return
    assert "\r" in text and text.endswith("\n")
    assert "round 1 |" in text and "s of 20.0 s left" in text
    screen = _screen(text)
    # Log lines are whole lines; the bar's last state is on the last line.
    assert any(line.startswith("sktune: round 1 done") for line in screen)
    assert re.fullmatch(r"sktune \[#+\] 100% done: \d candidates measured in \d+\.\d s",
                        screen[-2])
    assert screen[-1] == ""


@pytest.mark.parametrize("config, expected", [({"IPKernelApp": {}}, True), ({}, False)],
                         ids=["kernel", "terminal-ipython"])
def test_progress_bar_active_in_notebook(monkeypatch, config, expected):
    # Check that in an IPython kernel (a notebook, whose stderr is no TTY) the
    # bar is shown, and not in a plain IPython shell whose stderr is no TTY.
    shell = type("Shell", (), {"config": config})()
    fake_ipython = type(sys)("IPython")
    fake_ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    progress = progress_bar(1, stream=io.StringIO())
    assert isinstance(progress, ProgressBar) is expected
    assert type(progress_bar(0, stream=io.StringIO())) is NoProgress
