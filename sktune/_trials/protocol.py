"""The messages between sktune and its worker process, as named types.

::

    parent (IsolatedRunner)                 worker (python -m sktune._trials.worker)
      connect, send sys.path, send Setup  ->
                                          <-  Ready(pid)
      Call("visit", (index, round_))      ->
                                          <-  Started(index, "warmup")  one per run, so that
                                          <-  Started(index, "timed")   the parent can time it
                                          <-  Done(value, error, records, ...)
      Call("close")                       ->  closes its engines and profilers, exits

Every message is pickled with cloudpickle (the estimator may be a lambda or
a class of ``__main__``). The parent kills the worker's whole session when
a run passes its limit or the worker dies, and records the loss against the
candidate that the last :class:`Started` named. Both sides import this
module, so the shapes are written down once (the model is loky's
``_ResultItem`` and ``_CallItem``).
"""

import os
import secrets
import sys
from dataclasses import dataclass, field

#: The environment variable that passes the connection's key to the worker
#: (never the command line, which other users can read).
AUTHKEY_ENV = "SKTUNE_WORKER_AUTHKEY"


def listen(authkey):
    """A listener the worker can connect to, and its address as text for argv.

    Not a socket file in the temporary folder, as ``Listener()`` makes: a
    long ``TMPDIR`` (a CI job's, a test's) passes the 108 bytes an AF_UNIX
    path may have, and a killed parent would leave the file behind. On
    Linux the socket is in the abstract namespace (no file at all);
    elsewhere it is TCP on the loopback interface. Either way the
    connection is authenticated with ``authkey``.
    """
    from multiprocessing.connection import Listener

    if sys.platform.startswith("linux"):
        name = f"sktune-{os.getpid()}-{secrets.token_hex(8)}"
        return Listener("\0" + name, family="AF_UNIX", authkey=authkey), f"unix:{name}"
    listener = Listener(("127.0.0.1", 0), family="AF_INET", authkey=authkey)
    host, port = listener.address
    return listener, f"tcp:{host}:{port}"


def connect(address, authkey):
    """The worker's side of :func:`listen`: connect to ``address`` (its text)."""
    from multiprocessing.connection import Client

    kind, _, where = address.partition(":")
    if kind == "unix":
        return Client("\0" + where, family="AF_UNIX", authkey=authkey)
    host, _, port = where.rpartition(":")
    return Client((host, int(port)), family="AF_INET", authkey=authkey)


@dataclass
class Setup:
    """What the worker needs to run trials: the workload and how to run it."""

    data_path: str
    estimator: object
    task: str
    candidates: list
    profilers: list
    may_use_loky: bool
    client_address: str
    usable_cores: int
    state: dict
    units: object = None


@dataclass
class Ready:
    """The worker has loaded the data and waits for calls."""

    pid: int


@dataclass
class Call:
    """Run ``method(*args)`` of the worker's runner ("close" ends the worker)."""

    method: str
    args: tuple = ()


@dataclass
class Started:
    """A run of candidate ``index`` in ``phase`` ("warmup", "timed", "extra") starts."""

    index: int
    phase: str


@dataclass
class Done:
    """The answer to a :class:`Call`, with what the runner recorded meanwhile."""

    value: object = None
    error: BaseException = None
    records: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    exceptions: dict = field(default_factory=dict)
