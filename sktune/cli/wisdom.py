"""``sktune wisdom list | show | clear | export | import``: the wisdom cache.

The subcommands of :mod:`sktune.cli` over :class:`sktune.wisdom.WisdomStore`,
kept apart so that the CLI module stays one screen per concern.
"""

import argparse
import sys

from ..exceptions import InvalidParameterError


def _wisdom_store(args):
    from ..wisdom import WisdomStore

    return WisdomStore(args.root)


def _cmd_wisdom_list(args):
    from ..machine import Machine

    store = _wisdom_store(args)
    entries = store.entries()
    if not entries:
        print(f"No wisdom in {store.root}.")
        return 0
    here = Machine.detect(refresh_threadpools=False).stable_fingerprint
    columns = ("key", "estimator", "data", "budget", "best", "speedup", "created")
    rows = []
    for entry in entries:
        summary = entry.summary()
        mark = "" if entry.machine == here else "*"
        rows.append([mark + summary["key"], *(summary[c] for c in columns[1:])])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [list(columns), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if any(e.machine != here for e in entries):
        print("* measured on another machine: a hint only, never used as an answer here.")
    return 0


def _cmd_wisdom_show(args):
    from ..machine import Machine

    entries = [e for e in _wisdom_store(args).entries() if e.key.startswith(args.key)]
    keys = sorted({e.key for e in entries})
    if len(keys) != 1:
        found = f"matches {keys}" if keys else "matches no entry"
        raise InvalidParameterError(
            f"Wisdom key {args.key!r} {found}; give a unique prefix from sktune wisdom list.")
    here = Machine.detect(refresh_threadpools=False).stable_fingerprint
    entry = min(entries, key=lambda e: e.machine != here)  # this machine's first
    where = "this machine" if entry.machine == here else f"another machine ({entry.machine})"
    print(f"Wisdom {entry.key}: measured on {where}, budget {entry.budget}, "
          f"{entry.created}, {entry.source}.\n")
    print(entry.result())
    return 0


def _cmd_wisdom_clear(args):
    store = _wisdom_store(args)
    if not args.yes and sys.stdin is not None and sys.stdin.isatty():
        answer = input(f"Remove every wisdom entry in {store.root}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing removed.")
            return 0
    print(f"Removed {store.remove()} wisdom entries from {store.root}.")
    return 0


def _cmd_wisdom_export(args):
    n_entries = _wisdom_store(args).export(args.path)
    print(f"Exported {n_entries} wisdom entries to {args.path}.")
    return 0


def _cmd_wisdom_import(args):
    print(f"Imported {args.path}: {_wisdom_store(args).import_(args.path)}")
    return 0


def add_wisdom_commands(sub):
    """``sktune wisdom list | show | clear | export | import``."""
    wisdom = sub.add_parser("wisdom", help="list, show, clear, export or import saved "
                                           "profiles (the wisdom cache)")
    root_help = "the wisdom folder (default: the wisdom folder of sktune's cache)"
    wisdom.add_argument("--root", default=None, metavar="DIR", help=root_help)
    actions = wisdom.add_subparsers(dest="action", required=True)
    commands = {"list": (_cmd_wisdom_list, "list the saved profiles"),
                "show": (_cmd_wisdom_show, "print one saved profile"),
                "clear": (_cmd_wisdom_clear, "remove every saved profile"),
                "export": (_cmd_wisdom_export, "write every saved profile to one file"),
                "import": (_cmd_wisdom_import, "add the profiles of an exported file")}
    for name, (func, text) in commands.items():
        action = actions.add_parser(name, help=text)
        # SUPPRESS: "wisdom --root DIR list" is not reset by the sub-parser's default.
        action.add_argument("--root", default=argparse.SUPPRESS, metavar="DIR",
                            help=root_help)
        action.set_defaults(func=func)
    actions.choices["show"].add_argument("key", metavar="KEY",
                                         help="a key, or a unique prefix of one")
    actions.choices["clear"].add_argument("--yes", "-y", action="store_true",
                                          help="do not ask for confirmation")
    actions.choices["export"].add_argument("path", metavar="PATH")
    actions.choices["import"].add_argument("path", metavar="PATH")
