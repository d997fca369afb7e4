"""The wisdom cache: profiles kept per machine and workload, like FFTW's wisdom.

A :func:`sktune.profile` answer only holds for one machine (its
:attr:`~sktune.Machine.stable_fingerprint`) and one workload (:func:`workload_key`).
:class:`WisdomStore` keeps each answer as one JSON file,
``<root>/v1/<fingerprint>/<key>.json``, written atomically under a lock so
that concurrent processes never see half a file. The cache must never make
profiling fail: a file that cannot be read is moved to ``<root>/set-aside/``
with a warning, and a cache that cannot be written is skipped with a warning.
Entries from other machines (imported ones) are only ever offered as
:meth:`WisdomStore.hints`, never as answers.
"""

import contextlib
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ._files import cache_root, file_lock, staged_file, write_atomic
from ._json import dumps
from ._version import __version__
from ._wisdom_key import workload_key
from .exceptions import InvalidParameterError, SktuneWarning
from .search import BUDGET_RANKS, budget_rank

__all__ = ["BUDGET_RANKS", "ImportReport", "NoWisdom", "WisdomEntry", "WisdomStore",
           "budget_rank", "workload_key"]  # BUDGET_RANKS and budget_rank live in sktune.search

#: Bumped when the entry layout changes; also the name of the layout folder.
WISDOM_VERSION = 1
#: A record holds the lock for milliseconds (4 processes x 26 records in
#: tests/test_wisdom.py); 10 s means a stuck holder, so go on and warn.
LOCK_TIMEOUT = 10.0
#: Temp files this old belong to a writer that died; readers delete them.
STALE_TEMP_SECONDS = 3600.0
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FIELDS = {"wisdom_version": int, "sktune_version": str, "created": str, "machine": str,
           "machine_summary": dict, "key": str, "workload": dict, "budget": (str, int, float),
           "budget_rank": int, "source": str, "result": dict}


@dataclass(frozen=True)
class WisdomEntry:
    """One stored profile: where it holds, how it was measured, and the result.

    Attributes
    ----------
    key : str
        The :func:`workload_key`.
    machine : str
        Fingerprint of the machine that measured it.
    budget : str or float
    budget_rank : int
        See :data:`BUDGET_RANKS`.
    source : {"measured", "imported"}
    created : str
        ISO 8601 time (UTC) of the measurement.
    sktune_version : str
    workload, machine_summary : dict
    path : pathlib.Path
        The entry's file.
    data : dict
        The whole entry as stored, ``result`` included.
    """

    key: str
    machine: str
    budget: object
    budget_rank: int
    source: str
    created: str
    sktune_version: str
    workload: dict = field(hash=False, repr=False)
    machine_summary: dict = field(hash=False, repr=False)
    path: Path = field(compare=False)
    data: dict = field(hash=False, repr=False)

    @classmethod
    def _from_data(cls, data, path):
        return cls(key=data["key"], machine=data["machine"], budget=data["budget"],
                   budget_rank=data["budget_rank"], source=data["source"],
                   created=data["created"], sktune_version=data["sktune_version"],
                   workload=data["workload"], machine_summary=data["machine_summary"],
                   path=Path(path), data=data)

    def result(self):
        """The stored :class:`~sktune.ProfileResult`."""
        from .results import ProfileResult

        return ProfileResult.from_dict(self.data["result"])

    def summary(self) -> dict:
        """Short texts for a table: key, estimator, data, budget, best, speedup, created."""
        estimator, data = self.workload.get("estimator"), self.workload.get("data") or {}
        name = estimator.get("class", "?") if isinstance(estimator, dict) else str(estimator)
        rows = data.get("n_samples_class")
        result = self.result()
        return {"key": self.key[:10], "estimator": name.rsplit(".", 1)[-1],
                "data": f"~{round(2 ** rows) if rows else '?'} x {data.get('n_features')}",
                "budget": str(self.budget), "best": str(result.best),
                "speedup": str(result.speedup), "created": self.created[:16].replace("T", " ")}


@dataclass
class ImportReport:
    """What :meth:`WisdomStore.import_` did.

    Attributes
    ----------
    added, replaced, skipped : int
        New entries, entries that replaced one of a lower or equal budget
        rank, and entries kept out by a better or identical existing one.
    rejected : list of (str, str)
        Invalid entries: which one, and why.
    """

    added: int = 0
    replaced: int = 0
    skipped: int = 0
    rejected: list = field(default_factory=list)

    def __str__(self):
        lines = [f"{self.added} added, {self.replaced} replaced, {self.skipped} skipped, "
                 f"{len(self.rejected)} rejected"]
        lines += [f"  rejected {what}: {why}" for what, why in self.rejected]
        return "\n".join(lines)


def _invalid_reason(data):
    """Why ``data`` is not a valid entry, or None when it is."""
    from .results import ProfileResult

    if not isinstance(data, dict):
        return f"an entry must be a JSON object, not {type(data).__name__}"
    if data.get("wisdom_version") != WISDOM_VERSION:
        return (f"wisdom_version {data.get('wisdom_version')!r}; this sktune reads "
                f"version {WISDOM_VERSION}")
    for name, kind in _FIELDS.items():
        if name not in data:
            return f"missing field {name!r}"
        if not isinstance(data[name], kind) or isinstance(data[name], bool) and kind is int:
            return f"field {name!r} is a {type(data[name]).__name__}"
    for name in ("key", "machine"):
        if not _NAME.match(data[name]):
            return f"field {name!r} is not a valid name: {data[name]!r}"
    try:
        ProfileResult.from_dict(data["result"])
    except Exception as exc:  # any failure means "unusable", never a crash
        return f"its result cannot be loaded ({type(exc).__name__}: {exc})"
    return None


def _now():
    return datetime.now(timezone.utc)


def _rank_and_time(path):
    """``(budget_rank, created)`` of the entry in ``path``; None if absent or unreadable.

    An unreadable entry is simply overwritten by a new one.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["budget_rank"]), str(data["created"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


class WisdomStore:
    """The folder of wisdom entries, one JSON file per machine and workload.

    Parameters
    ----------
    root : str or path-like, default=None
        None means the ``wisdom`` folder of sktune's cache root
        (``$SKTUNE_CACHE_DIR``, see ``sktune._files``), read again at each
        call since the environment may change in between. Folders are
        created on the first write, never by a read.

    Attributes
    ----------
    problems : list of str
        Files set aside (or that could not be) during the last operation.

    Notes
    -----
    An entry replaces an existing one for the same machine and key when its
    budget rank is at least as high: a newer measurement wins unless the old
    one was measured more thoroughly.
    """

    def __init__(self, root: "str | os.PathLike | None" = None):
        self._root = None if root is None else Path(root)
        self.problems = []

    @property
    def root(self) -> Path:
        """The store's folder (not created)."""
        if self._root is not None:
            return self._root
        return cache_root() / "wisdom"

    def _folder(self, fingerprint=None):
        base = self.root / f"v{WISDOM_VERSION}"
        return base if fingerprint is None else base / _checked("fingerprint", fingerprint)

    # -- the lock ---------------------------------------------------------------
    def _locked(self):
        """Hold ``<root>/v1/.lock``; after LOCK_TIMEOUT, warn and go on without it."""
        return file_lock(self._folder() / ".lock", LOCK_TIMEOUT, stacklevel=6)

    # -- reading ----------------------------------------------------------------
    def _load(self, path):
        """The entry in ``path``, or None (missing, or bad and then set aside)."""
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return self._set_aside(path, f"it cannot be read ({exc})")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._set_aside(path, f"it is not valid JSON ({exc})", text)
        reason = _invalid_reason(data)
        if reason is None and (data["key"], data["machine"]) != (path.stem, path.parent.name):
            reason = "its key or machine does not match its file name"
        if reason is not None:
            return self._set_aside(path, reason, text)
        return WisdomEntry._from_data(data, path)

    def _set_aside(self, path, reason, text=None):
        """Move a bad file to ``<root>/set-aside/``, warn, note it; return None."""
        stamp = _now().strftime("%Y%m%dT%H%M%S.%fZ")
        target = self.root / "set-aside" / f"{path.parent.name}-{path.stem}-{stamp}.json"
        try:
            with self._locked():
                # A writer may have replaced the file since it was read: move only
                # what was judged bad.
                if text is not None and path.read_text(encoding="utf-8") != text:
                    return None
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
            message = (f"Wisdom entry {str(path)!r} was set aside, not deleted, because "
                       f"{reason}; it is now {str(target)!r}.")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            message = (f"Wisdom entry {str(path)!r} is ignored because {reason}; it could "
                       f"not be set aside ({exc}).")
        self.problems.append(message)
        warnings.warn(message, SktuneWarning, stacklevel=4)
        return None

    def _paths(self, fingerprint=None, key=None):
        """Entry files (temp files excluded; stale ones deleted)."""
        folders = [self._folder(fingerprint)] if fingerprint is not None else sorted(
            p for p in self._folder().glob("*") if p.is_dir())
        paths = []
        for folder in folders:
            if key is not None:
                paths.append(folder / f"{_checked('key', key)}.json")
                continue
            for path in sorted(folder.glob("*")):
                if path.suffix == ".json" and not path.name.startswith("."):
                    paths.append(path)
                elif path.suffix == ".tmp":
                    with contextlib.suppress(OSError):
                        if time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS:
                            path.unlink()
        return paths

    def lookup(self, fingerprint: str, key: str, min_rank: int = 0) -> "WisdomEntry | None":
        """The entry of this machine and workload, measured at least ``min_rank``.

        Parameters
        ----------
        fingerprint : str
            :attr:`sktune.Machine.stable_fingerprint` of the machine asking.
        key : str
            From :func:`workload_key`.
        min_rank : int, default=0
            An entry of a lower :data:`BUDGET_RANKS` rank does not count.

        Returns
        -------
        entry : WisdomEntry or None
        """
        self.problems = []
        entry = self._load(self._folder(fingerprint) / f"{_checked('key', key)}.json")
        return entry if entry is not None and entry.budget_rank >= min_rank else None

    def hints(self, key: str, exclude_fingerprint: str = None) -> list:
        """Entries for the same workload from other machines, newest first.

        They are hints (where to start a search), never answers: the speed of
        a configuration depends on the machine.
        """
        self.problems = []
        entries = [e for e in map(self._load, self._paths(key=key))
                   if e is not None and e.machine != exclude_fingerprint]
        return sorted(entries, key=lambda e: e.created, reverse=True)

    def entries(self, fingerprint: str = None) -> list:
        """Every valid entry, of one machine or all, newest first."""
        self.problems = []
        entries = [e for e in map(self._load, self._paths(fingerprint)) if e is not None]
        return sorted(entries, key=lambda e: e.created, reverse=True)

    # -- writing ----------------------------------------------------------------
    def record(self, result, key: str, description: dict, *, budget, budget_rank: int,
               fingerprint: str = None) -> "Path | None":
        """Store ``result`` as the answer for ``key`` on its machine.

        Parameters
        ----------
        result : ProfileResult
        key : str
        description : dict
            Both from :func:`workload_key`.
        budget : str or float
            The ``profile`` budget used.
        budget_rank : int
            Its rank, see :func:`budget_rank`.
        fingerprint : str, default=None
            The machine; None means ``result.machine.stable_fingerprint``.

        Returns
        -------
        path : pathlib.Path or None
            The entry file (the existing one if it was kept, see Notes of
            :class:`WisdomStore`); None when the cache could not be written,
            which only warns: profiling never fails because of the cache.
        """
        self.problems = []
        try:
            machine = result.machine
            entry = {"wisdom_version": WISDOM_VERSION, "sktune_version": __version__,
                     "created": _now().isoformat(),
                     "machine": fingerprint or machine.stable_fingerprint,
                     "machine_summary": {"cpu_model": machine.cpu_model,
                                         "usable_cores": machine.usable_cores,
                                         "physical_cores": machine.physical_cores},
                     "key": key, "workload": description, "budget": budget,
                     "budget_rank": int(budget_rank), "source": "measured",
                     "result": result.to_dict()}
            return self._store(entry)[0]
        except (OSError, TypeError, ValueError) as exc:
            warnings.warn(f"The result was not saved to the wisdom cache {str(self.root)!r}: "
                          f"{type(exc).__name__}: {exc}. Set SKTUNE_CACHE_DIR to a "
                          "writable folder to keep results.", SktuneWarning, stacklevel=2)
            return None

    def _store(self, entry):
        """Write ``entry`` unless a better one is there; return (path, outcome)."""
        path = self._folder(entry["machine"]) / f"{_checked('key', entry['key'])}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(path, dumps(entry)) as publish, self._locked():
            old = _rank_and_time(path)
            if old is not None and (old[0] > entry["budget_rank"]
                                    or old == (entry["budget_rank"], entry["created"])):
                return path, "skipped"
            publish()
            return path, "added" if old is None else "replaced"

    def remove(self, fingerprint: str = None, key: str = None) -> int:
        """Delete entries of one machine, one workload, both, or (no argument) all.

        Returns
        -------
        n_removed : int
        """
        self.problems = []
        if not self._folder().is_dir():
            return 0
        n_removed = 0
        with self._locked():
            for path in self._paths(fingerprint, key):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    n_removed += 1
        return n_removed

    def export(self, path: "str | os.PathLike", fingerprint: str = None) -> int:
        """Write the entries (all, or one machine's) to one JSON file.

        Returns
        -------
        n_entries : int
        """
        data = [e.data for e in self.entries(fingerprint)]
        path = Path(path)
        write_atomic(path, dumps({"format": "sktune-wisdom",
                                  "wisdom_version": WISDOM_VERSION, "entries": data}))
        return len(data)

    def import_(self, path: "str | os.PathLike") -> ImportReport:
        """Add the entries of an :meth:`export` file, keeping their machines.

        Entries of this machine's fingerprint answer :meth:`lookup` (they come
        from an identical machine and software stack); the others only show
        up in :meth:`hints`. Each is marked ``"source": "imported"``.

        Returns
        -------
        report : ImportReport

        Raises
        ------
        InvalidParameterError
            If ``path`` is not a wisdom file (not JSON, no ``"format":
            "sktune-wisdom"``, another wisdom_version). Invalid entries are
            rejected in the report instead.
        """
        self.problems = []
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidParameterError(
                f"{str(path)!r} is not a sktune wisdom file: invalid JSON ({exc}).") from None
        if not isinstance(data, dict) or data.get("format") != "sktune-wisdom":
            raise InvalidParameterError(
                f"{str(path)!r} is not a sktune wisdom file: no \"format\": "
                "\"sktune-wisdom\" key. Create one with sktune wisdom export.")
        if data.get("wisdom_version") != WISDOM_VERSION:
            raise InvalidParameterError(
                f"{str(path)!r} is a sktune wisdom file of version "
                f"{data.get('wisdom_version')!r}; this sktune reads version {WISDOM_VERSION}.")
        if not isinstance(data.get("entries"), list):
            raise InvalidParameterError(
                f"{str(path)!r} is not a valid sktune wisdom file: 'entries' is not a list.")
        counts, rejected = {"added": 0, "replaced": 0, "skipped": 0}, []
        for i, entry in enumerate(data["entries"]):
            reason = _invalid_reason(entry)
            if reason is not None:
                what = f"entry {i}" + (f" (key {entry.get('key')!r})"
                                       if isinstance(entry, dict) else "")
                rejected.append((what, reason))
                continue
            counts[self._store({**entry, "source": "imported"})[1]] += 1
        return ImportReport(**counts, rejected=rejected)


class NoWisdom:
    """The wisdom cache of ``profile(wisdom=False)``: it finds nothing and keeps nothing.

    It has :class:`WisdomStore`'s reading and recording methods, so that
    code using a store never asks whether there is one (the model is
    joblib's ``NotMemorizedFunc``).
    """

    root = None

    def lookup(self, fingerprint, key, min_rank=0):
        """Nothing is ever found: None."""
        return None

    def hints(self, key, exclude_fingerprint=None):
        """No other machine's answers: an empty list."""
        return []

    def record(self, result, key, description, **kwargs):
        """Nothing is kept: None."""
        return None


def _checked(what, name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterError(
            f"The '{what}' parameter of WisdomStore must be a str of letters, digits, "
            f"'-' or '_'. Got {name!r} instead.")
    return name


