"""Peak memory of a trial across the process tree (PSS), and of joblib's memmap folders.

A trial's memory lives in several processes: the caller and its loky or
multiprocessing workers, which may start during the trial and outlive it.
``ru_maxrss`` of ``RUSAGE_CHILDREN`` is the largest *reaped* child, and summed
RSS counts every shared page (memmapped arrays, libraries) once per process
(PITFALLS.md section 7, checklist item 18). This profiler samples, in a
background thread, the sum of the proportional set size (PSS: each shared
page divided among its sharers) of the calling process and every live
descendant, read from ``/proc/<pid>/smaps_rollup``, falling back to RSS where
that file cannot be read. It also tracks joblib's memmapping folders, whose
pages may belong to no process.
"""

import os
import re
import tempfile
import threading
import time
from numbers import Real

from .._compat import Interval
from .._validation import invalid_choice, validate_params
from ..exceptions import InvalidParameterError
from .base import Profiler

_SMAPS_ROLLUP = "/proc/{}/smaps_rollup"
_PSS = re.compile(rb"^Pss:\s+(\d+) kB", re.MULTILINE)
_ANON = re.compile(rb"^Anonymous:\s+(\d+) kB", re.MULTILINE)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_FOLDER_PREFIX = "joblib_memmapping_folder_"
_THREAD_NAME = "sktune-memory-sampler"

# Measured on the 2-core AMD EPYC VM this was written on (Linux 6.18, Python
# 3.11, /tmp/memprof/*.py, min of 5 x 50 calls), for a warm loky pool of 2
# workers (5 processes: caller, 2 workers, 2 resource trackers, sklearn
# imported): smaps_rollup costs ~1.7 us per memory mapping, 2.5 ms for a
# process that imported sklearn (1500 mappings; resident size hardly
# matters), so reading PSS of the tree takes 8.5 ms (psutil's
# memory_full_info: 9-15 ms). A *tick* (list the tree through
# /proc/<pid>/task/<tid>/children, 0.2 ms against 3.8 ms for psutil's
# children(recursive=True), read each RSS from statm, scan the memmap
# folders) takes 0.46 ms. A 0.6 s trial of 2 busy workers slowed by 0.5-0.8 ms
# per ms of sampler CPU; and reading the PSS of a worker that is faulting in
# pages cost up to 7 ms. So every tick estimates each process as its last PSS
# plus the anonymous resident pages (statm: resident - shared) added since
# that read (as the read's own page walk counted them): exact for the arrays
# a worker allocates. PSS is read only for new processes (then every process,
# since a fork shares its parent's pages), for a process whose file-backed
# and shared-memory pages moved by more than its share of _TOLERANCE of the
# peak and then settled for a tick (their PSS depends on how many processes
# map them), and every _READ_PERIOD; the last two only while the sampler's
# CPU, with the next read predicted from the last one's cost per process,
# stays within _ALLOWANCE + _MAX_DUTY * elapsed: a 1 s trial costs at most
# ~25 ms of CPU, a 10 s one ~0.7%. (Reading PSS at every growth, within that
# budget, caught 15-128 MB of a 128 MB file mapped by two workers; reading
# only once RSS growth stalled missed 19 of 20 peaks of two workers
# allocating 0.15 s apart.) Ticks start at INTERVAL (a 50 ms trial gets 3-4)
# and double up to MAX_INTERVAL (~13 ticks, 6 ms, in the first second): a
# peak held for less than a tick can be missed.
INTERVAL = 0.005
MAX_INTERVAL = 0.1
_GROWTH = 2.0
_TOLERANCE = 0.02
_READ_PERIOD = 5.0
_MAX_DUTY = 0.005
_ALLOWANCE = 0.020


def _pss_bytes(pid):
    """PSS of process ``pid`` in bytes, or None if it cannot be read (it has exited)."""
    reading = _pss_reading(pid)
    return None if reading is None else reading[0]


def _pss_reading(pid):
    """``(pss, anonymous)`` bytes of ``pid`` from one read of smaps_rollup, or None.

    ``anonymous`` is the resident anonymous memory the same page walk saw,
    which statm reports as ``resident - shared``: the two together let a
    later probe estimate the PSS from the anonymous pages added since.
    """
    try:
        with open(_SMAPS_ROLLUP.format(pid), "rb") as f:
            text = f.read()
    except OSError:  # gone (ENOENT/ESRCH), or not ours to read
        return None
    pss, anon = _PSS.search(text), _ANON.search(text)
    if pss is None:
        return None
    return int(pss.group(1)) * 1024, None if anon is None else int(anon.group(1)) * 1024


def _rss_bytes(pid):
    """RSS of process ``pid`` in bytes (psutil), or None if it has exited."""
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _statm_probe(pid):
    """``(resident, shared)`` bytes of ``pid`` from ``/proc/<pid>/statm`` (cheap), or None.

    ``shared`` is the file-backed and shared-memory part of the resident set;
    ``resident - shared`` is its anonymous part, private unless inherited
    through fork.
    """
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            fields = f.read().split()
        return int(fields[1]) * _PAGE, int(fields[2]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def _children(pid):
    """Direct children of ``pid``, forked by any of its threads; [] once it has exited."""
    children = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                children.extend(map(int, f.read().split()))
        except OSError:  # the thread or the process has ended
            continue
    return children


def _process_tree_pids():
    """The calling process's pid followed by those of its live descendants."""
    me = os.getpid()
    if not os.path.exists(f"/proc/{me}/task/{me}/children"):  # no CONFIG_PROC_CHILDREN
        import psutil

        return [me] + [p.pid for p in psutil.Process(me).children(recursive=True)]
    pids = [me]
    for pid in pids:  # breadth-first: the loop also visits the pids it appends
        pids.extend(_children(pid))
    return pids


def _memmap_folders_bytes(folders):
    """Total size of the files in the folders ``folders``."""
    total = 0
    for folder in folders:
        try:
            with os.scandir(folder) as files:
                total += sum(f.stat().st_size for f in files if f.is_file())
        except OSError:  # deleted meanwhile
            continue
    return total


class MemoryProfiler(Profiler):
    """Peak memory of the call across the process tree (``mem_*`` fields).

    ``stop`` returns, bytes as int: ``mem_peak_bytes`` (largest sum over the
    tree), ``mem_rest_bytes`` (the sum at ``start``), ``mem_extra_bytes``
    (peak minus rest, at least 0), ``mem_shm_peak_bytes`` (largest total size
    of the tree's joblib memmapping folders), ``mem_processes`` (most
    processes seen at once), ``mem_samples`` (looks at the tree, ``start``
    and ``stop`` included) and ``mem_metric`` (``"pss"`` or ``"rss"``).
    Before any ``start`` the numbers are None.

    Parameters
    ----------
    metric : {"auto", "pss", "rss"}, default="auto"
        What is summed over the tree: "auto" is "pss" where
        ``/proc/self/smaps_rollup`` can be read (Linux >= 4.14), else "rss".
    interval : float, default=INTERVAL
        Seconds before the first background sample; each next interval is
        twice as long, up to ``max_interval``.
    max_interval : float, default=MAX_INTERVAL
        Longest interval between two samples, in seconds.
    read_process : callable, default=None
        ``read_process(pid) -> int, (int, int) or None``: the memory of one
        process in bytes, or that and the anonymous resident bytes the same
        reading saw (see ``read_rss``); None if it has exited (it is then
        skipped). Replaces the reader chosen by ``metric``; tests pass a
        fake one.
    read_rss : callable, default=None
        ``read_rss(pid) -> (resident, shared) or None``: a cheap probe of a
        process's resident bytes and their shared (file-backed) part, read
        at every sample. Between two ``read_process`` calls a process's
        memory is then estimated as its last reading plus the change in its
        anonymous resident bytes, and ``read_process`` is called for new
        processes, for those whose shared resident bytes moved and settled,
        and every few seconds, within a CPU budget. By default statm for
        "pss" (a PSS read costs milliseconds) and nothing otherwise, which,
        like an injected ``read_process``, calls ``read_process`` every time.
    list_pids : callable, default=None
        ``list_pids() -> list of int``: the processes to sum, called at every
        sample so that workers started during the trial are counted. By
        default the calling process and its live descendants.
    memmap_roots : list of str, default=None
        Folders searched for ``joblib_memmapping_folder_<pid>_*``: by
        default ``/dev/shm``, ``JOBLIB_TEMP_FOLDER`` and the system temporary
        folder, where joblib puts them unless given a ``temp_folder``.

    Notes
    -----
    The memmapping folders are reported apart, not added to the PSS peak:
    the pages a worker maps from them are already in that worker's PSS, so
    adding the files would count them twice. Pages no process maps (an array
    dumped but not yet read) are in no PSS, so the trial's footprint lies
    between the larger of the two peaks and their sum.
    """

    name = "memory"

    def __init__(self, metric="auto", interval=INTERVAL, max_interval=MAX_INTERVAL,
                 read_process=None, read_rss=None, list_pids=None, memmap_roots=None):
        if metric not in ("auto", "pss", "rss"):
            raise InvalidParameterError(invalid_choice("metric", metric, ["auto", "pss", "rss"]))
        positive = [Interval(Real, 0, None, closed="neither")]
        validate_params({"interval": positive, "max_interval": positive},
                        {"interval": interval, "max_interval": max_interval}, "MemoryProfiler")
        if metric == "auto":
            metric = "pss" if _pss_bytes(os.getpid()) is not None else "rss"
        if read_process is None and read_rss is None and metric == "pss":
            read_rss = _statm_probe
        self.metric = metric
        self.interval = interval
        self.max_interval = max_interval
        self.read_process = read_process or {"pss": _pss_reading, "rss": _rss_bytes}[metric]
        self.read_rss = read_rss
        self.list_pids = list_pids or _process_tree_pids
        self.memmap_roots = memmap_roots
        self._thread = None
        self._last = self._record(None, None, None, None, None)

    def _record(self, peak, rest, shm, processes, samples):
        extra = None if peak is None else max(0, peak - rest)
        return {"mem_peak_bytes": peak, "mem_rest_bytes": rest, "mem_extra_bytes": extra,
                "mem_shm_peak_bytes": shm, "mem_processes": processes,
                "mem_samples": samples, "mem_metric": self.metric}

    def _default_roots(self):
        roots = ["/dev/shm", os.environ.get("JOBLIB_TEMP_FOLDER"), tempfile.gettempdir()]
        return list(dict.fromkeys(os.path.abspath(r) for r in roots if r))

    def _folders(self, pids):
        # Listing /dev/shm and /tmp was 2/3 of a tick: list a root again only
        # when its mtime moved, or is too recent to trust (coarse timestamps).
        owners = {str(pid) for pid in pids}
        folders = []
        for root in self._roots:
            try:
                mtime = os.stat(root).st_mtime_ns
                seen, found = self._listed.get(root, (None, ()))
                if mtime != seen or time.time_ns() - mtime < 100_000_000:
                    with os.scandir(root) as entries:  # (owner pid, path) of each folder
                        found = [(e.name[len(_FOLDER_PREFIX):].split("_", 1)[0], e.path)
                                 for e in entries if e.name.startswith(_FOLDER_PREFIX)]
                    self._listed[root] = (mtime, found)
            except OSError:  # a root that does not exist
                continue
            folders += [path for owner, path in found if owner in owners]
        return folders

    def _moved(self, probe, now):
        """Known pids worth a PSS read at a background sample: [] if none.

        Anonymous pages need no read (the estimate adds them exactly): only
        file-backed and shared-memory pages do, whose PSS depends on how
        many processes map them. A process is read once its shared resident
        size has moved by more than its share of the tolerance since its
        last read and has stopped moving since the last tick: a read while
        it still faults pages in costs several times more and is soon stale.
        """
        known = [pid for pid in probe if pid in self._pss]
        if now - self._read_at >= _READ_PERIOD:
            return known
        share = _TOLERANCE * self._peak / len(probe)
        last, self._last_probe = self._last_probe, probe
        return [pid for pid in known
                if abs(probe[pid][1] - self._ref[pid][1]) > share
                and pid in last and abs(probe[pid][1] - last[pid][1]) <= share]

    def _within_budget(self, now, n_reads):
        # The next read is predicted from the last one's cost per process:
        # the forced read at start covers the whole tree, but a background
        # read usually covers only the few workers whose RSS moved (a 2-worker
        # loky pool: 2 x ~2.5 ms instead of ~12 ms for the 5-process tree).
        spent = time.thread_time() - self._cpu_start + self._read_cost * n_reads
        return spent <= _ALLOWANCE + _MAX_DUTY * (now - self._started_at)

    def _read(self, pids):
        return {pid: size for pid in pids if (size := self.read_process(pid)) is not None}

    def _read_probed(self, pids, probe):
        """Read the memory of ``pids``; set each one's reference for estimates.

        The reference is ``(resident, anonymous)``: the resident bytes probed
        right after the read, to notice the next move, and the anonymous
        bytes the read itself saw, so that later probes add exactly the
        anonymous pages allocated since. (A worker still faulting in pages
        grows during the milliseconds a PSS read takes: a probe taken before
        the read counted that growth twice, +60% on two workers allocating
        100 MB; one taken after it missed up to 30%.) A reader that gives no
        anonymous figure gets the one probed after it.
        """
        pss = {}
        for pid in pids:
            reading = self.read_process(pid)
            if reading is None:
                continue
            pss[pid], anon = reading if isinstance(reading, tuple) else (reading, None)
            probe[pid] = self.read_rss(pid) or probe[pid]
            resident, shared = probe[pid]
            self._ref[pid] = (resident, shared, resident - shared if anon is None else anon)
        return pss

    def _sample(self, forced):
        """Look at the tree once; return the estimated total (bytes)."""
        now = time.perf_counter()
        pids = self.list_pids()
        self._samples += 1
        if self.read_rss is None:  # no probe: read every process, within the budget
            if forced or self._within_budget(now, len(pids)):
                cpu = time.thread_time()
                self._pss = self._read(pids)
                self._read_cost = (time.thread_time() - cpu) / max(1, len(pids))
                self._processes = max(self._processes, len(self._pss))
            return self._account(pids, self._pss.values())
        probe = {pid: r for pid in pids if (r := self.read_rss(pid)) is not None}
        pids = list(probe)
        self._processes = max(self._processes, len(pids))
        # A new process is always read, and then every process, whatever the
        # budget: after a fork most of its pages are shared with its parent,
        # whose PSS halves them (without re-reading the parent, a forked pool
        # of 2 over a 200 MB parent counted 331 MB for 100 MB allocated).
        new = [pid for pid in pids if pid not in self._pss]
        moved = pids if forced or new else self._moved(probe, now)
        if moved and not (forced or new) and not self._within_budget(now, len(moved)):
            moved = []
        to_read = list(dict.fromkeys(new + moved))
        if to_read:
            cpu = time.thread_time()
            before = {pid: self._ref[pid][0] for pid in to_read if pid in self._ref}
            pss = self._read_probed(to_read, probe)
            if not forced and any(  # shared pages moved: every sharer's PSS changed
                    abs(pss[pid] - self._pss[pid] - probe[pid][0] + before[pid])
                    > _TOLERANCE * self._peak / len(pids)
                    for pid in pss if pid in before) and self._within_budget(now, len(pids)):
                to_read, pss = pids, self._read_probed(pids, probe)
            self._read_cost = (time.thread_time() - cpu) / len(to_read)  # per process
            self._pss.update(pss)
            self._read_at = now
        self._pss = {pid: self._pss[pid] for pid in pids if pid in self._pss}
        self._ref = {pid: self._ref[pid] for pid in self._pss}
        # Between reads, a process changes by its anonymous (unshared) pages:
        # exact for arrays it allocates, a lower bound for pages it maps.
        return self._account(pids, (
            size + (probe[pid][0] - probe[pid][1]) - self._ref[pid][2]
            for pid, size in self._pss.items()))

    def _account(self, pids, sizes):
        total = sum(sizes)
        self._peak = max(self._peak, total)
        self._shm_peak = max(self._shm_peak, _memmap_folders_bytes(self._folders(pids)))
        return total

    def _run(self, done):
        self._cpu_start = time.thread_time()
        wait = self.interval
        while not done.wait(wait):
            self._sample(forced=False)
            wait = min(wait * _GROWTH, self.max_interval)

    def start(self):
        self._halt()  # a start without stop must not leave a second thread behind
        self._roots = self.memmap_roots if self.memmap_roots is not None else self._default_roots()
        self._listed = {}
        self._peak = self._shm_peak = self._processes = self._samples = 0
        self._read_cost, self._read_at, self._pss, self._ref = 0.0, 0.0, {}, {}
        self._last_probe = {}
        self._rest = self._sample(forced=True)
        self._started_at = time.perf_counter()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._done,),
                                        name=_THREAD_NAME, daemon=True)
        self._thread.start()

    def _halt(self):
        thread, self._thread = self._thread, None
        if thread is None:
            return False
        self._done.set()
        thread.join()
        return True

    def stop(self):
        if self._halt():
            self._sample(forced=True)
            self._last = self._record(self._peak, self._rest, self._shm_peak,
                                      self._processes, self._samples)
        return dict(self._last)

    def close(self):
        self._halt()
