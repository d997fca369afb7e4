import pytest
from matplotlib.figure import Figure

from sktune import Config
from sktune.exceptions import InvalidParameterError
from sktune.plots import KINDS, available_kinds, plot

from _helpers import synthetic_result


@pytest.fixture(scope="module")
def result():
    return synthetic_result()


def _labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_available_kinds_all_for_full_result(result):
    # Check that a result varying n_jobs, thread caps and with step times has
    # data for every kind, in the order of KINDS.
    assert available_kinds(result) == KINDS


def test_available_kinds_only_what_was_measured():
    # Check that kinds without data are left out: no thread caps, no steps.
    result = synthetic_result({Config(): 1.0, Config(n_jobs=2, backend="loky"): 0.5},
                              steps=False)
    assert available_kinds(result) == ("scaling", "intervals")


@pytest.mark.parametrize("kind", KINDS)
def test_plot_draws_readable_figure(result, kind):
    # Check that each kind returns a Figure with a title and labelled axes.
    figure = plot(result, kind)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_title() and ax.get_xlabel()
    # Bars and intervals label their ticks instead of the axis: then every
    # tick has a text.
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ax.get_ylabel() or (ticks and all(ticks))
    figure.canvas.draw()  # renders headless on the Agg canvas


def test_plot_scaling_has_ideal_line_and_backends(result):
    # Check that the scaling plot shows ideal scaling, the baseline and one
    # series per backend, in seconds-free speedup units.
    ax = plot(result, "scaling").axes[0]
    labels = _labels(ax)
    assert "ideal (speedup = n_jobs)" in labels and "recommended" in labels
    ideal = ax.get_lines()[labels.index("ideal (speedup = n_jobs)")]
    assert list(ideal.get_xdata()) == list(ideal.get_ydata()) == [1, 2]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"loky", "threading"} <= set(legend)
    assert "n_jobs" in ax.get_xlabel() and "speedup" in ax.get_ylabel()


def test_plot_threads_heatmap_cells(result):
    # Check that the heatmap has one annotated cell per measured thread
    # setting and a colour bar in seconds.
    figure = plot(result, "threads")
    ax = figure.axes[0]
    assert len(ax.images) == 1
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 4  # as written and three BLAS x OpenMP settings
    assert any("1.26x" in t for t in texts)
    assert ax.get_xlabel() == "OpenMP threads" and ax.get_ylabel() == "BLAS threads"
    assert "seconds" in figure.axes[1].get_ylabel()


def test_plot_steps_bars_per_step_and_config(result):
    # Check that the steps plot has one bar per step for the baseline and the
    # recommendation, slowest step first.
    ax = plot(result, "steps").axes[0]
    assert len(ax.patches) == 3 * 2
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "model (fit)" and "scale (fit_transform)" in ticks
    assert "seconds" in ax.get_xlabel()


def test_plot_intervals_highlights_recommendation(result):
    # Check that every measured candidate has an interval, the baseline line
    # is at 1.0 and the recommended candidate's label is marked.
    ax = plot(result, "intervals").axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) == len(result.candidates)
    assert f"{result.best}  (recommended)" in ticks
    baseline = ax.get_lines()[_labels(ax).index("as written (1.0x)")]
    assert list(baseline.get_xdata()) == [1.0, 1.0]


def test_plot_draws_on_given_axes(result):
    # Check that plot() draws on the axes it is given and returns its figure.
    figure = Figure()
    ax = figure.add_subplot()
    assert result.plot("intervals", ax=ax) is figure
    assert ax.get_lines()


def test_plot_leaves_pyplot_alone(result):
    # Check that plotting creates no pyplot figure (headless-safe, no global state).
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for kind in KINDS:
        plot(result, kind)
    assert plt.get_fignums() == before


def test_plot_unknown_kind_error(result):
    # Check scikit-learn's wording for an unknown kind, with the kinds sorted.
    with pytest.raises(InvalidParameterError,
                       match=r"The 'kind' parameter of plot must be a str among "
                             r"\['intervals', 'scaling', 'steps', 'threads'\]\. "
                             r"Got 'scatter' instead\."):
        plot(result, "scatter")


@pytest.mark.parametrize("kind, match", [
    ("threads", "blas_threads or openmp_threads"),
    ("steps", "'steps' profiler"),
])
def test_plot_missing_data_error(kind, match):
    # Check that a kind without data raises, naming what is missing and how
    # to get it.
    result = synthetic_result({Config(): 1.0, Config(n_jobs=2, backend="loky"): 0.5},
                              steps=False)
    with pytest.raises(InvalidParameterError, match=f"Cannot draw the '{kind}' plot.*{match}"):
        plot(result, kind)


def test_available_kinds_no_steps_for_single_estimator():
    # Check that a result whose only step is the root (an estimator without
    # sub-steps) has no "steps" plot: there is nothing to break down.
    result = synthetic_result()
    for record in result.records:
        if "steps" in record:
            record["steps"] = record["steps"][:1]
    assert "steps" not in available_kinds(result)
    with pytest.raises(InvalidParameterError, match="no steps to break down"):
        plot(result, "steps")
