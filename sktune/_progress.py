"""A one-line progress display for :func:`sktune.profile`, without dependencies.

The profile loop drives it with three calls: :meth:`ProgressBar.start` (how
many candidates, how much budget), :meth:`ProgressBar.update` (what is being
timed now, rounds done, seconds spent) and :meth:`ProgressBar.close`. The
line is rewritten in place with ``\\r`` on stderr, and only where a person
watches: ``verbose >= 1`` and stderr is a terminal or an IPython kernel is
running. Everywhere else :func:`progress_bar` returns a :class:`NoProgress`
that does nothing, so the loop has no ``if`` of its own (joblib's
``NotMemorizedFunc`` pattern). Nothing global is changed, so nothing needs
restoring: the bar only writes to the stream it was given.
"""

import math
import sys
import time

#: Redraw at most this often, in seconds of the bar's clock; tqdm's default
#: ``mininterval``. A fast workload visits hundreds of candidates a second.
MIN_REDRAW_S = 0.1
#: Characters of the bar itself, and of the longest "what" shown: the whole
#: line stays within 100 columns, the width of a default notebook output cell.
BAR_WIDTH = 12
WHAT_WIDTH = 32


def _in_ipython_kernel():
    """True inside a Jupyter/IPython kernel (a notebook), whose stderr is no TTY."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except AttributeError:  # a partial or foreign "IPython" module
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds):
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


class NoProgress:
    """The progress display that shows nothing (verbose=0, or output not watched)."""

    #: Where log messages should go while profiling: None is stderr.
    log_stream = None

    def start(self, n_candidates, budget_seconds, max_rounds=None):
        pass

    def update(self, what, rounds_done, seconds_spent):
        pass

    def close(self, done=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class ProgressBar(NoProgress):
    """One line on ``stream``, rewritten in place with ``\\r``.

    Parameters
    ----------
    stream : file-like
        Where to draw, usually ``sys.stderr``.
    clock : callable, default=time.monotonic
        Seconds; limits redraws to one per ``min_interval`` and times the
        whole run for the last line.
    min_interval : float, default=MIN_REDRAW_S

    Notes
    -----
    The bar is also a stream: log records written through it (see
    :attr:`log_stream`) clear the line, are printed above it, and the bar is
    drawn again below them.
    """

    def __init__(self, stream, clock=time.monotonic, min_interval=MIN_REDRAW_S):
        self.stream = stream
        self.clock = clock
        self.min_interval = min_interval
        self.n_candidates = 0
        self.budget_seconds = math.inf
        self.max_rounds = None
        self._line = ""        # the text of the last update, drawn or not
        self._drawn = 0        # width of what is on screen now, 0 if nothing
        self._last_draw = None
        self._started = clock()
        self._closed = False

    @property
    def log_stream(self):
        return self

    def start(self, n_candidates, budget_seconds, max_rounds=None):
        """Begin: ``n_candidates`` to time within ``budget_seconds`` (may be inf).

        Parameters
        ----------
        n_candidates : int
        budget_seconds : float
            The soft time budget; ``math.inf`` for none.
        max_rounds : int, default=None
            The most rounds the search will run, for the fraction done when
            there is no time limit.
        """
        self.n_candidates = n_candidates
        self.budget_seconds = budget_seconds
        self.max_rounds = max_rounds
        self._started = self.clock()
        self._closed = False

    def fraction(self, rounds_done, seconds_spent):
        """Share of the work done: the larger of time and rounds used, at most 1."""
        parts = []
        if math.isfinite(self.budget_seconds) and self.budget_seconds > 0:
            parts.append(seconds_spent / self.budget_seconds)
        if self.max_rounds:
            parts.append(rounds_done / self.max_rounds)
        return min(1.0, max(parts)) if parts else 0.0

    def format(self, what, rounds_done, seconds_spent):
        """The line shown for one update (without ``\\r``)."""
        done = self.fraction(rounds_done, seconds_spent)
        filled = int(round(done * BAR_WIDTH))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        if len(what) > WHAT_WIDTH:
            what = what[:WHAT_WIDTH - 3] + "..."
        if math.isfinite(self.budget_seconds):
            left = max(0.0, self.budget_seconds - seconds_spent)
            budget = f"{_duration(left)} of {_duration(self.budget_seconds)} left"
        else:
            budget = f"{_duration(seconds_spent)}, no limit"
        return f"sktune [{bar}] {done:4.0%} round {rounds_done + 1} | {what} | {budget}"

    def update(self, what, rounds_done, seconds_spent):
        """Show that ``what`` is being timed, after ``rounds_done`` rounds.

        Redraws at most once per ``min_interval`` seconds of the clock.
        """
        self._line = self.format(what, rounds_done, seconds_spent)
        now = self.clock()
        if self._last_draw is not None and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._draw()

    def _draw(self):
        # Pad with spaces to cover a longer previous line: "\r" does not erase.
        pad = max(0, self._drawn - len(self._line))
        self.stream.write("\r" + self._line + " " * pad)
        self.stream.flush()
        self._drawn = len(self._line)

    def _clear(self):
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def close(self, done=False):
        """End the line; calling it again does nothing.

        Parameters
        ----------
        done : bool, default=False
            The profile finished: show it complete, with the candidates and
            the time it took, instead of the last state (an error, a Ctrl-C).
            Leaving a ``with`` block without an exception passes True.
        """
        if self._closed:
            return
        self._closed = True
        if self._line:
            if done:
                spent = self.clock() - self._started
                plural = "s" if self.n_candidates != 1 else ""
                self._line = (f"sktune [{'#' * BAR_WIDTH}] 100% done: {self.n_candidates} "
                              f"candidate{plural} measured in {_duration(spent)}")
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0
        self._line = ""

    def __exit__(self, exc_type, *exc_info):
        self.close(done=exc_type is None)

    # -- the stream interface, for log messages -------------------------------
    def write(self, text):
        """Print ``text`` above the bar (a logging handler's stream)."""
        self._clear()
        self.stream.write(text)
        if text.endswith("\n") and self._line and not self._closed:
            self._draw()

    def flush(self):
        self.stream.flush()


def progress_bar(verbose, stream=None, clock=time.monotonic):
    """The progress display for ``verbose``: a :class:`ProgressBar` or a no-op.

    Parameters
    ----------
    verbose : int
        0 shows nothing.
    stream : file-like, default=None
        None is ``sys.stderr`` as it is at the time of the call.
    clock : callable, default=time.monotonic

    Returns
    -------
    progress : ProgressBar or NoProgress
        A bar only when ``verbose >= 1`` and the stream is a terminal or an
        IPython kernel (a notebook) is running.
    """
    stream = sys.stderr if stream is None else stream
    if verbose and (_is_terminal(stream) or _in_ipython_kernel()):
        return ProgressBar(stream, clock=clock)
    return NoProgress()
