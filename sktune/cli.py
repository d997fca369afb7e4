"""Command-line interface: ``sktune info | profile | report | compare | demo | show | wisdom``.

A thin shell over the Python API (asv's ``commands/``): each subcommand is
one function that turns its arguments into calls of :func:`sktune.profile`,
:func:`sktune.load`, :meth:`~sktune.ProfileResult.report` and
:func:`sktune.compare.compare`, and prints. Errors that are the user's to
fix (:class:`SktuneError`, a missing file) print one line without a
traceback and give exit status 1 (the model is asv's ``main.py``).
"""

import argparse
import contextlib
import sys

from ._cli_wisdom import add_wisdom_commands
from .exceptions import InvalidParameterError, SktuneError

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


#: Where ``sktune demo`` writes its report unless told otherwise.
DEMO_REPORT = "sktune-report.html"


def _print_saved(result, args):
    """Save the JSON (``--save``) and write the report (``-o``), saying where."""
    if args.save:
        result.save(args.save)
        print(f"\nResult saved to {args.save}; reload it with sktune.load({args.save!r}).")
    if args.report:
        _print_report(result.report(args.report))


def _print_report(path):
    import os

    print(f"Report written to {os.path.abspath(path)}")


def _cmd_demo(args):
    import sktune

    print(f"sktune {sktune.__version__}: profiling the built-in '{args.example}' example "
          f"(budget={args.budget}); this takes about a minute.\n", flush=True)
    estimator, X, y = example_workload(args.example, args.n_samples)
    with _scheduler_client(args.scheduler) as client:
        result = sktune.profile(estimator, X, y, verbose=args.verbose, client=client,
                                **_measurement(args))
    print(result)
    _print_saved(result, args)
    return 0


def _cmd_profile(args):
    import sktune

    space = _space(args)  # bad options fail before the user's code runs
    estimator, X, y = load_target(args.target)
    with _scheduler_client(args.scheduler) as client:
        result = sktune.profile(estimator, X, y, task=args.task, space=space,
                                accelerate=args.accelerate, verbose=args.verbose,
                                client=client, **_measurement(args))
    print(result)
    _print_saved(result, args)
    return 0


def _cmd_report(args):
    import sktune

    _print_report(sktune.load(args.result).report(args.output))
    return 0


def _cmd_compare(args):
    import sktune
    from .compare import compare

    comparison = compare(sktune.load(args.a), sktune.load(args.b),
                         labels=(args.a, args.b), **_min_effect(args))
    print(comparison)
    return 0


def _cmd_info(args):
    import sktune
    from . import machine
    from ._format import format_engines

    print(f"sktune {sktune.__version__}")
    print(machine.Machine.detect())
    print(format_engines(machine.engine_versions()))
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


def _min_effect(args):
    return {} if args.min_effect is None else {"min_effect": args.min_effect}


def _values(option, text, kind):
    """``"1,2,none"`` -> ``[1, 2, None]``; ``"auto"`` stays ``"auto"``."""
    if text is None:
        return None
    if text.strip() == "auto":
        return "auto"
    values = []
    for item in text.split(","):
        item = item.strip()
        if item.lower() == "none":
            values.append(None)
        elif kind is int:
            try:
                values.append(int(item))
            except ValueError:
                raise InvalidParameterError(
                    f"The '{option}' option must be 'auto' or a comma-separated list "
                    f"of integers or 'none', e.g. {option} 1,2. Got {text!r} instead."
                ) from None
        elif kind == "shape":
            try:
                workers, threads = item.lower().split("x")
                values.append((int(workers), int(threads)))
            except ValueError:
                raise InvalidParameterError(
                    f"The '{option}' option must be 'auto' or a comma-separated list "
                    f"of WORKERSxTHREADS, e.g. {option} 2x1,1x2. Got {text!r} instead."
                ) from None
        else:
            values.append(item)
    return values


def _space(args):
    """A ConfigSpace from the space options, or None (``auto``) when none is given."""
    from .space import ConfigSpace

    dims = {"n_jobs": _values("--n-jobs", args.n_jobs, int),
            "backend": _values("--backend", args.backend, str),
            "blas_threads": _values("--blas-threads", args.blas_threads, int),
            "openmp_threads": _values("--openmp-threads", args.openmp_threads, int),
            "cluster": _values("--cluster", args.cluster, "shape")}
    if all(v is None for v in dims.values()):
        return None
    return ConfigSpace(**dims)


def _import_target(module_or_path):
    """Import a module by name, or a ``.py`` file by path, without a traceback."""
    import importlib
    import importlib.util
    import os

    is_file = module_or_path.endswith(".py") or os.sep in module_or_path or (
        os.altsep and os.altsep in module_or_path)
    # Like `python -m` and `python file.py`: the file's folder (or the current
    # folder for a module) is importable while the target loads, then not.
    folder = os.path.dirname(os.path.abspath(module_or_path)) if is_file else os.getcwd()
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        if is_file:
            if not os.path.isfile(module_or_path):
                raise InvalidParameterError(f"No such file: {module_or_path!r}.")
            name = "_sktune_target_" + os.path.splitext(os.path.basename(module_or_path))[0]
            spec = importlib.util.spec_from_file_location(name, module_or_path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_or_path)
    except SktuneError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and module_or_path.split(".")[0] == exc.name.split(".")[0]:
            raise InvalidParameterError(
                f"No module named {module_or_path!r}; give module:function with the "
                "module importable from here, or path/to/file.py:function.") from None
        raise InvalidParameterError(
            f"Importing {module_or_path!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # the user's code: say what and where in one line
        raise InvalidParameterError(
            f"Importing {module_or_path!r} failed: {type(exc).__name__}: {exc} "
            "(import it in Python to see the traceback).") from None
    finally:
        if added:
            sys.path.remove(folder)


def load_target(target):
    """Call the function named by ``target`` and return its ``(estimator, X, y)``.

    Parameters
    ----------
    target : str
        ``path/to/file.py:function`` or ``package.module:function``; the
        function takes no argument and returns ``(estimator, X, y)``
        (``y`` may be None).

    Returns
    -------
    estimator, X, y

    Raises
    ------
    InvalidParameterError
        If the target is malformed, cannot be imported, is not a function,
        raises, or returns something else than ``(estimator, X, y)``.
    """
    usage = "expected path/to/file.py:function or module:function"
    module_or_path, sep, func_name = target.rpartition(":")
    if not sep or not module_or_path or not func_name.isidentifier():
        raise InvalidParameterError(f"Invalid TARGET: {target!r}, {usage}.")
    module = _import_target(module_or_path)
    func = getattr(module, func_name, None)
    if func is None:
        raise InvalidParameterError(
            f"{module_or_path!r} has no function named {func_name!r} ({usage}).")
    if not callable(func):
        raise InvalidParameterError(
            f"{func_name!r} in {module_or_path!r} is a {type(func).__name__}, not a "
            f"function ({usage}).")
    try:
        returned = func()
    except Exception as exc:  # the user's code
        raise InvalidParameterError(
            f"{func_name}() raised {type(exc).__name__}: {exc} (call it in Python to "
            "see the traceback).") from None
    if not (isinstance(returned, (tuple, list)) and len(returned) == 3
            and hasattr(returned[0], "get_params") and hasattr(returned[0], "fit")):
        got = (f"a {type(returned).__name__} of length {len(returned)}"
               if isinstance(returned, (tuple, list)) else f"a {type(returned).__name__}")
        if isinstance(returned, (tuple, list)) and len(returned) == 3:
            got = f"a first item of type {type(returned[0]).__name__}, not an estimator"
        raise InvalidParameterError(
            f"{func_name}() in {module_or_path!r} must return (estimator, X, y) with a "
            f"scikit-learn estimator first; got {got}.")
    return tuple(returned)


def _add_verbosity(parser):
    parser.add_argument("--verbose", "-v", action="count", default=1,
                        help="log more (-v: debug messages)")
    parser.add_argument("--quiet", "-q", action="store_const", const=0, dest="verbose",
                        help="no progress bar or messages while profiling")


def _add_budget(parser, default):
    parser.add_argument("--budget", default=default,
                        help="estimate (time nothing), quick, measure, exhaustive, or "
                             f"seconds (default: {default})")
    group = parser.add_argument_group("measurement")
    group.add_argument("--isolation", default="process", choices=("process", "none"),
                       help="run trials in a worker process that may crash or hang "
                            "without harm (default), or in this process")
    group.add_argument("--timeout", default="auto", metavar="SECONDS",
                       help="time limit of each run: auto (10x the first run, at least "
                            "30 s), seconds, or none")
    group.add_argument("--no-wisdom", dest="wisdom", action="store_false",
                       help="neither answer from nor save to the wisdom cache")
    group.add_argument("--refresh", action="store_true",
                       help="measure again even if wisdom has an answer")
    group.add_argument("--engines", default=None, metavar="LIST",
                       help="also measure these engines: a comma-separated list among "
                            "dask, ray, intelex, or all")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="profile the dask cluster of this scheduler "
                            "(e.g. tcp://10.0.0.5:8786); implies --engines dask")


def _measurement(args):
    """The profile() keywords of the options added by :func:`_add_budget`."""
    timeout = args.timeout
    if timeout.lower() == "none":
        timeout = None
    elif timeout != "auto":
        timeout = _budget(timeout)
    engines = args.engines
    if engines is not None and engines != "all":
        engines = [name.strip() for name in engines.split(",") if name.strip()]
    return {"budget": _budget(args.budget), "isolation": args.isolation,
            "timeout": timeout, "wisdom": args.wisdom, "refresh": args.refresh,
            "engines": engines}


@contextlib.contextmanager
def _scheduler_client(address):
    """A dask Client connected to ``address`` for the command's duration, or None."""
    if address is None:
        yield None
        return
    from ._engines import CLIENT_TIMEOUT_S, DaskEngine
    from .exceptions import EngineError, EngineNotAvailableError

    reason = DaskEngine.why_unavailable()
    if reason is not None:
        raise EngineNotAvailableError(f"--scheduler needs dask.distributed: {reason}.")
    from distributed import Client

    try:
        client = Client(address, timeout=CLIENT_TIMEOUT_S, set_as_default=False)
    except (OSError, ValueError) as exc:
        raise EngineError(f"--scheduler: could not connect to the dask scheduler at "
                          f"{address}: {type(exc).__name__}: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


def build_parser():
    """The argparse parser of the ``sktune`` command."""
    from .workload import TASKS

    parser = argparse.ArgumentParser(
        prog="sktune",
        description="Measure how to run a scikit-learn pipeline fastest on this machine.")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="describe this machine as sktune sees it",
                          description="Describe this machine as sktune sees it: cores, "
                                      "caches, Python build and GIL, thread pools, "
                                      "versions and the optional engines (dask, ray, "
                                      "scikit-learn-intelex) with how to install them.")
    info.set_defaults(func=_cmd_info)

    prof = sub.add_parser(
        "profile", help="profile your own workload",
        description="Profile the (estimator, X, y) that TARGET returns.")
    prof.add_argument("target", metavar="TARGET",
                      help="path/to/file.py:function or module:function; the function "
                           "takes no argument and returns (estimator, X, y)")
    prof.add_argument("--task", default="fit", choices=TASKS,
                      help="the method to time (default: fit)")
    _add_budget(prof, "measure")
    space = prof.add_argument_group(
        "space", "Comma-separated values to try: 'none' leaves the setting as written, "
                 "'auto' lets sktune choose. A dimension not given is not varied; with "
                 "no space option at all, every dimension is 'auto'.")
    for option, example in (("--n-jobs", "1,2"), ("--backend", "loky,threading"),
                            ("--blas-threads", "1,2"), ("--openmp-threads", "1,2"),
                            ("--cluster", "2x1,1x2 (dask workers x threads, with "
                                          "--backend dask)")):
        space.add_argument(option, default=None, metavar="LIST", help=f"e.g. {example}")
    prof.add_argument("--accelerate", action="store_true",
                      help="also measure compiled substitutes of steps")
    prof.add_argument("--output", "-o", dest="report", default=None, metavar="REPORT",
                      help="write a report, e.g. report.html (.html, .md, .json)")
    prof.add_argument("--save", default=None, metavar="RESULT.json",
                      help="save the result as JSON, for sktune report/compare/show")
    _add_verbosity(prof)
    prof.set_defaults(func=_cmd_profile)

    report = sub.add_parser("report", help="write a report of a saved result")
    report.add_argument("result", metavar="RESULT.json")
    report.add_argument("--output", "-o", required=True, metavar="FILE",
                        help="the report; its extension picks the format (.html, .md, ...)")
    report.set_defaults(func=_cmd_report)

    comp = sub.add_parser(
        "compare", help="compare two saved results (two runs or two machines)")
    comp.add_argument("a", metavar="A.json", help="the reference run")
    comp.add_argument("b", metavar="B.json", help="the new run")
    comp.add_argument("--min-effect", type=float, default=None,
                      help="smallest relative change flagged (default: 0.05)")
    comp.set_defaults(func=_cmd_compare)

    demo = sub.add_parser("demo", help="profile a built-in example and write a report")
    demo.add_argument("example", nargs="?", default="random-forest", choices=EXAMPLES)
    _add_budget(demo, "measure")
    demo.add_argument("--n-samples", type=int, default=None)
    demo.add_argument("--report", "-o", default=DEMO_REPORT, metavar="PATH",
                      help=f"where to write the report (default: {DEMO_REPORT})")
    demo.add_argument("--save", default=None, metavar="RESULT.json",
                      help="also save the result as JSON")
    _add_verbosity(demo)
    demo.set_defaults(func=_cmd_demo)

    show = sub.add_parser("show", help="print a saved result")
    show.add_argument("path")
    show.set_defaults(func=_cmd_show)
    add_wisdom_commands(sub)
    return parser


def main(argv=None):
    """Run the ``sktune`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SktuneError, OSError) as exc:  # the user's to fix: no traceback
        print(f"sktune: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc):
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {str(exc.filename)!r}"
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
