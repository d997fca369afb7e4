"""Compare two profiling runs: what changed between them, by how much, beyond noise?

Two saved results of the same workload, from two runs or two machines, are
matched configuration by configuration (by :class:`~sktune.Config`). For
each configuration measured in both, the ratio of medians B/A gets an
interval from the timed repeats of both runs widened by the machine's
between-run noise (:func:`sktune._stats.speedup_interval`: two runs of one
configuration differ by that much with nothing changed), and the change is
called "slower" or "faster" only when that interval excludes 1, the
repeats differ by asv's test (:func:`sktune._stats.significance`) *and*
the change exceeds the minimum effect that :mod:`sktune.recommendation`
uses (the rule that decides a recommendation, plus the between-run
noise). The functions are pure: no timing and no I/O; ``sktune compare
A.json B.json`` only loads the files and prints the result.
"""

from dataclasses import dataclass
from numbers import Real

from ._compat import HasMethods
from ._stats import significance, speedup_interval
from ._units import seconds
from ._validation import NON_NEGATIVE_INT, Rule, number, validated
from .recommendation import MIN_EFFECT

#: The values of the ``change`` column, in the order the text lists them.
CHANGES = ("slower", "faster", "within noise", "not measured", "only in A", "only in B")


@dataclass(frozen=True)
class Comparison:
    """What changed from run A to run B.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per configuration: ``config``, ``median_a_s``, ``median_b_s``,
        ``ratio`` (B over A: above 1 is slower in B), ``ratio_low``,
        ``ratio_high``, ``change`` (one of :data:`CHANGES`), ``status_a``,
        ``status_b``, ``n_repeats_a``, ``n_repeats_b``.
    best_a, best_b : Config
        The recommendation of each run.
    fingerprint_a, fingerprint_b : str
        The machine fingerprints (:attr:`sktune.Machine.fingerprint`).
    notes : tuple of str
        Other differences that matter for reading the table (workload, data).
    labels : tuple of str
        Names of the two runs in the text, e.g. their file names.
    min_effect : float
    """

    table: object
    best_a: object
    best_b: object
    fingerprint_a: str
    fingerprint_b: str
    notes: tuple = ()
    labels: tuple = ("A", "B")
    min_effect: float = MIN_EFFECT

    @property
    def recommendation_changed(self):
        """True when the two runs recommend different configurations."""
        return self.best_a != self.best_b

    @property
    def same_machine(self):
        """True when both runs have the same machine fingerprint."""
        return self.fingerprint_a == self.fingerprint_b

    @property
    def slower(self):
        """Configurations slower in B beyond noise, as a list of str."""
        return self.table.loc[self.table.change == "slower", "config"].tolist()

    @property
    def faster(self):
        """Configurations faster in B beyond noise, as a list of str."""
        return self.table.loc[self.table.change == "faster", "config"].tolist()

    def __str__(self):
        return format_comparison(self)


def _classify(interval, verdict, min_effect):
    """"slower", "faster" or "within noise" for a B/A ratio interval and the
    :class:`~sktune._stats.Significance` of the two runs' repeats."""
    if not verdict.significant:
        return "within noise"
    if interval.low > 1 and interval.value >= 1 + min_effect:
        return "slower"
    # Symmetric with "slower": B's speedup over A, A/B, is at least 1 + min_effect.
    if interval.high < 1 and interval.value <= 1 / (1 + min_effect):
        return "faster"
    return "within noise"


_RESULT = HasMethods(["summary", "to_dict"])
_LABELS = Rule(lambda v: isinstance(v, (tuple, list)) and len(v) == 2
               and all(isinstance(x, str) for x in v), "a tuple of two str", invalid=("A",))


@validated({"a": [_RESULT], "b": [_RESULT], "min_effect": [number(Real, 0, 1, "left")],
            "labels": [_LABELS], "seed": [NON_NEGATIVE_INT]})
def compare(a, b, *, min_effect: float = MIN_EFFECT, labels: tuple = ("A", "B"),
            seed: int = 0) -> "Comparison":
    """Compare two :class:`~sktune.ProfileResult`, configuration by configuration.

    Parameters
    ----------
    a, b : ProfileResult
        The reference run and the new one; ratios are B over A.
    min_effect : float, default=0.05
        Smallest relative change reported as slower or faster, as in
        :func:`sktune.profile`.
    labels : tuple of (str, str), default=("A", "B")
        Names of the two runs in the text rendering.
    seed : int, default=0
        Seeds the bootstrap.

    Returns
    -------
    comparison : Comparison
        ``comparison.table`` is the DataFrame; ``str(comparison)`` the text.

    Examples
    --------
    >>> from sktune import compare
    >>> comparison = compare(sktune.load("a.json"), sktune.load("b.json"))  # doctest: +SKIP
    >>> comparison.slower                                 # doctest: +SKIP
    ['n_jobs=2, backend=loky']
    """
    import pandas as pd

    # Two runs differ by the noisier machine's between-run noise.
    run_noise = max(getattr(a, "run_noise", 0.0), getattr(b, "run_noise", 0.0))
    stats_a = {s.config: s for s in a.stats}
    stats_b = {s.config: s for s in b.stats}
    rows = []
    for config in [*stats_a, *(c for c in stats_b if c not in stats_a)]:
        sa, sb = stats_a.get(config), stats_b.get(config)
        row = {"config": str(config), "median_a_s": None, "median_b_s": None,
               "ratio": None, "ratio_low": None, "ratio_high": None,
               "status_a": sa.status if sa else None, "status_b": sb.status if sb else None,
               "n_repeats_a": len(sa.wall) if sa else 0,
               "n_repeats_b": len(sb.wall) if sb else 0}
        if sa is not None and sa.wall:
            row["median_a_s"] = sa.median
        if sb is not None and sb.wall:
            row["median_b_s"] = sb.median
        if sa is None or sb is None:
            row["change"] = "only in B" if sa is None else "only in A"
        elif not (sa.wall and sb.wall):
            row["change"] = "not measured"
        else:
            interval = speedup_interval(sb.wall, sa.wall, run_noise=run_noise, seed=seed)
            row.update(ratio=interval.value, ratio_low=interval.low,
                       ratio_high=interval.high,
                       change=_classify(interval, significance(sa.wall, sb.wall),
                                        min_effect))
        rows.append(row)
    table = pd.DataFrame(rows, columns=[
        "config", "median_a_s", "median_b_s", "ratio", "ratio_low", "ratio_high",
        "change", "status_a", "status_b", "n_repeats_a", "n_repeats_b"])
    return Comparison(
        table=table, best_a=a.best, best_b=b.best,
        fingerprint_a=a.machine.fingerprint, fingerprint_b=b.machine.fingerprint,
        notes=tuple(_workload_notes(a, b, labels)), labels=tuple(labels),
        min_effect=min_effect)


def _workload_notes(a, b, labels):
    notes = []
    wa, wb = a.workload, b.workload
    if wa.get("estimator") != wb.get("estimator"):
        notes.append(f"The estimators differ ({labels[0]}: {wa.get('estimator')}, "
                     f"{labels[1]}: {wb.get('estimator')}): the times compare "
                     "different work.")
    elif wa.get("data") != wb.get("data"):
        notes.append("The data differ (shape, type or task): the times compare "
                     "different work.")
    return notes


def format_comparison(comparison):
    """The text rendering of a :class:`Comparison` (what ``sktune compare`` prints).

    Parameters
    ----------
    comparison : Comparison

    Returns
    -------
    text : str
    """
    la, lb = comparison.labels
    table = comparison.table
    lines = [f"sktune compare: A = {la}, B = {lb}"]
    if comparison.same_machine:
        lines.append(f"Machine: the same (fingerprint {comparison.fingerprint_a}).")
    else:
        lines.append(f"Machine: different (fingerprint {comparison.fingerprint_a} in A, "
                     f"{comparison.fingerprint_b} in B): some differences may come "
                     "from the machines.")
    if comparison.recommendation_changed:
        lines.append(f"Recommendation: changed, from {comparison.best_a.describe()} (A) "
                     f"to {comparison.best_b.describe()} (B).")
    else:
        lines.append(f"Recommendation: unchanged, {comparison.best_a.describe()}.")
    lines += comparison.notes
    counts = table.change.value_counts()
    summary = ", ".join(f"{counts[c]} {c}" for c in CHANGES if counts.get(c, 0))
    lines.append(f"Configurations: {summary or 'none'} (B against A; 'slower' and "
                 f"'faster' need the repeats to differ by asv's test, a 95% interval "
                 f"excluding 1 that counts the machine's between-run noise, and a "
                 f"change of at least {comparison.min_effect:.0%}).")
    lines.append("")
    width = max([len("configuration"), *(len(c) for c in table.config)])
    lines.append(f"  {'configuration':<{width}}  {'A median':>10}  {'B median':>10}  "
                 f"{'B/A [95% CI]':>20}  change")
    for row in table.itertuples():
        if row.ratio is None or row.ratio != row.ratio:
            ratio = "-"
        else:
            ratio = f"{row.ratio:.2f}x [{row.ratio_low:.2f}, {row.ratio_high:.2f}]"
        flag = "!" if row.change == "slower" else ("+" if row.change == "faster" else " ")
        lines.append(f"{flag} {row.config:<{width}}  {seconds(row.median_a_s):>10}  "
                     f"{seconds(row.median_b_s):>10}  {ratio:>20}  {row.change}")
    return "\n".join(lines)
