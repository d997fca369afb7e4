"""Command-line interface: ``sktune demo``, ``sktune info``, ``sktune show``.

Each subcommand is one function that parses nothing itself and calls the
public Python API; errors that are the user's (:class:`SktuneError`) are
printed without a traceback and give exit status 1 (the model is asv's
``main.py``).
"""

import argparse
import sys

from .exceptions import SktuneError

#: Built-in workloads for ``sktune demo``.
EXAMPLES = ("random-forest", "grid-search", "hist-gradient-boosting", "no-parallelism")


def example_workload(name, n_samples=None):
    """Return ``(estimator, X, y)`` of a built-in example workload.

    Parameters
    ----------
    name : {"random-forest", "grid-search", "hist-gradient-boosting", "no-parallelism"}
    n_samples : int, default=None
        Rows of synthetic data; each example has a default sized so that one
        fit takes roughly 0.2 to 1 s on a 2-core machine.
    """
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from ._validation import invalid_choice
    from .exceptions import InvalidParameterError

    defaults = {"random-forest": 4000, "grid-search": 3000,
                "hist-gradient-boosting": 20000, "no-parallelism": 5000}
    if name not in defaults:
        raise InvalidParameterError(invalid_choice("example", name, EXAMPLES))
    X, y = make_classification(n_samples=n_samples or defaults[name], n_features=20,
                               n_informative=10, random_state=0)
    if name == "random-forest":
        estimator = RandomForestClassifier(n_estimators=100, random_state=0)
    elif name == "grid-search":
        estimator = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
            {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=5)
    elif name == "hist-gradient-boosting":
        estimator = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    else:
        estimator = make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0))
    return estimator, X, y


def _cmd_demo(args):
    import sktune

    print(f"sktune {sktune.__version__}: profiling the built-in '{args.example}' example "
          f"(budget={args.budget}); this takes about a minute.\n", flush=True)
    estimator, X, y = example_workload(args.example, args.n_samples)
    result = sktune.profile(estimator, X, y, budget=_budget(args.budget),
                            verbose=args.verbose)
    print(result)
    if args.output:
        result.save(args.output)
        print(f"\nSaved to {args.output}; reload with sktune.load({args.output!r}).")
    return 0


def _cmd_info(args):
    import sktune
    from .machine import Machine

    print(f"sktune {sktune.__version__}")
    print(Machine.detect())
    return 0


def _cmd_show(args):
    import sktune

    print(sktune.load(args.path))
    return 0


def _budget(text):
    try:
        return float(text)
    except ValueError:
        return text


def build_parser():
    """The argparse parser of the ``sktune`` command."""
    parser = argparse.ArgumentParser(
        prog="sktune",
        description="Measure how to run a scikit-learn pipeline fastest on this machine.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="profile a built-in example workload")
    demo.add_argument("example", nargs="?", default="random-forest", choices=EXAMPLES)
    demo.add_argument("--budget", default="measure",
                      help="quick, measure, exhaustive, or seconds (default: measure)")
    demo.add_argument("--n-samples", type=int, default=None)
    demo.add_argument("--output", "-o", default=None, help="save the result as JSON")
    demo.add_argument("--verbose", "-v", action="count", default=0)
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="describe this machine as sktune sees it")
    info.set_defaults(func=_cmd_info)

    show = sub.add_parser("show", help="print a saved result")
    show.add_argument("path")
    show.set_defaults(func=_cmd_show)
    return parser


def main(argv=None):
    """Run the ``sktune`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SktuneError, OSError) as exc:  # the user's to fix: no traceback
        print(f"sktune: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
