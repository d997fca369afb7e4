"""Files sktune keeps and shares: the cache folders, atomic writes, a lock.

The cache root is ``$SKTUNE_CACHE_DIR`` when set, else
``$XDG_CACHE_HOME/sktune``, else ``~/.cache/sktune``; compiled user kernels
(``jit``, ``cython``) and wisdom live in sub-folders of it, so clearing one
never touches the others. A writer never leaves a half-written file where a
reader looks: :func:`staged_file` writes a unique temp file next to the
target and syncs it, and the file appears under its name only when
published, by one rename (:func:`write_atomic` does both at once). The lock
is ``flock`` on POSIX and ``msvcrt.locking`` on Windows, taken with a
bounded wait, so a stuck holder delays a writer but never hangs it.
"""

import contextlib
import os
import time
import uuid
import warnings
from pathlib import Path

from .exceptions import SktuneWarning

#: The environment variable that moves the cache root.
CACHE_DIR_ENV = "SKTUNE_CACHE_DIR"


def cache_root():
    """The cache root for this process, read from the environment now."""
    given = os.environ.get(CACHE_DIR_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sktune"


def cache_dir(name):
    """Return ``<root>/<name>``, created if missing (parents included)."""
    path = cache_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def staged_file(path, text):
    """Write ``text`` to a unique, synced temp file next to ``path``.

    Yields ``publish()``, which renames the temp file to ``path`` in one
    step (readers see the old file or the new one, never a part); a temp
    file not published is deleted on exit, on every exit path. Callers that
    decide under a lock whether to publish (the wisdom cache) write first
    and take the lock only for the rename.
    """
    path = Path(path)
    tmp = path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        yield lambda: os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_atomic(path, text):
    """Write ``text`` to ``path`` atomically (see :func:`staged_file`)."""
    with staged_file(path, text) as publish:
        publish()


def _try_lock(fh):
    try:
        if os.name == "nt":  # pragma: no cover - Windows only
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fh):
    if os.name == "nt":  # pragma: no cover - Windows only
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(lock_path, timeout, stacklevel=3):
    """Hold an exclusive lock on ``lock_path``; after ``timeout`` s, warn and go on.

    flock locks belong to one open file, so threads of one process exclude
    each other too.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as fh:
        deadline, delay = time.monotonic() + timeout, 0.001
        while not (held := _try_lock(fh)) and time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        if not held:
            warnings.warn(
                f"The lock {str(lock_path)!r} is still held after {timeout:g} s; going "
                "on without it. Delete the file if no sktune process is running.",
                SktuneWarning, stacklevel=stacklevel)
        try:
            yield
        finally:
            if held:
                _unlock(fh)
