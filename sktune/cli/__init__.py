"""Command-line interface: ``sktune info | profile | report | compare | demo | show |
calibrate | wisdom``.

A thin shell over the Python API (asv's ``commands/``): each subcommand is
one function that turns its arguments into calls of :func:`sktune.profile`,
:func:`sktune.load`, :meth:`~sktune.ProfileResult.report` and
:func:`sktune.compare`, and prints. Errors that are the user's to
fix (:class:`SktuneError`, a missing file) print one line without a
traceback and give exit status 1 (the model is asv's ``main.py``).
"""

import argparse
import contextlib
import sys

from ..exceptions import InvalidParameterError, SktuneError
from .demos import DEMO_REPORT, EXAMPLES, example_workload
from .target import load_target
from .wisdom import add_wisdom_commands

__all__ = ["EXAMPLES", "build_parser", "example_workload", "load_target", "main"]

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

    from ..comparison import compare

    comparison = compare(sktune.load(args.a), sktune.load(args.b),
                         labels=(args.a, args.b), **_min_effect(args))
    print(comparison)
    return 0


def _cmd_info(args):
    import sktune

    from .. import machine

    print(f"sktune {sktune.__version__}")
    print(machine.Machine.detect())
    print(_engine_rows(machine.engine_versions()))
    return 0


def _engine_rows(versions):
    """The ``engines`` rows of ``sktune info`` from :func:`sktune.machine.engine_versions`:
    each engine's version, or the command that installs it."""
    from .._engines import ENGINES

    hints = {cls.package.display: cls.package.install_hint for cls in ENGINES.values()}
    rows = [f"{name} {version}" if version else f"{name}: not installed: {hints[name]}"
            for name, version in versions.items()]
    return "\n".join(f"{'engines' if i == 0 else '':<15}{row}" for i, row in enumerate(rows))


def _cmd_calibrate(args):
    from ..calibration import calibrate, save_run_noise

    names = args.only.split(",") if args.only else None
    print("sktune calibrate: profiling the built-in workloads and re-measuring each "
          f"recommendation {args.reruns} times, each in a fresh process.\n", flush=True)
    result = calibrate(names, reruns=args.reruns, scale=args.scale,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(result)
    if args.save:
        path = save_run_noise(result.run_noise)
        print(f"\nThe between-run noise ({result.run_noise:.1%}) is saved in {path}: "
              "later profiles on this machine use it for their intervals.")
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
    from ..space import ConfigSpace

    dims = {"n_jobs": _values("--n-jobs", args.n_jobs, int),
            "backend": _values("--backend", args.backend, str),
            "blas_threads": _values("--blas-threads", args.blas_threads, int),
            "openmp_threads": _values("--openmp-threads", args.openmp_threads, int),
            "cluster": _values("--cluster", args.cluster, "shape")}
    if all(v is None for v in dims.values()):
        return None
    return ConfigSpace(**dims)


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
    group.add_argument("--confirm", default="auto", choices=("auto", "yes", "no"),
                       help="for a big workload timed on proxies: time the as-written "
                            "and the recommended configuration at full size (auto: when "
                            "the budget has room left; default auto)")
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
            "engines": engines,
            "confirm": {"auto": "auto", "yes": True, "no": False}[args.confirm]}


@contextlib.contextmanager
def _scheduler_client(address):
    """A dask Client connected to ``address`` for the command's duration, or None."""
    if address is None:
        yield None
        return
    from .._engines import CLIENT_TIMEOUT_S, DaskEngine
    from ..exceptions import EngineError, EngineNotAvailableError

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
    from ..workload import TASKS

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

    cal = sub.add_parser(
        "calibrate", help="check that claimed speedups survive re-runs on this machine",
        description="Profile built-in workloads, re-measure each recommendation in fresh "
                    "processes, print the share of re-runs inside the claimed intervals "
                    "and the machine's between-run noise, and keep that noise for the "
                    "intervals of later profiles (in the cache folder; nothing else is "
                    "written). Takes about 10 minutes on 2 cores.")
    cal.add_argument("--only", default=None, metavar="LIST",
                     help="comma-separated workloads, e.g. forest,hgb (default: all)")
    cal.add_argument("--reruns", type=int, default=3, help="re-runs of each (default: 3)")
    cal.add_argument("--scale", type=float, default=1.0,
                     help="multiplies the rows of every workload (default: 1)")
    cal.add_argument("--no-save", dest="save", action="store_false",
                     help="do not keep the measured noise for later profiles")
    cal.set_defaults(func=_cmd_calibrate)

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
