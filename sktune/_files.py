"""Files several processes share: atomic writes and an inter-process lock.

Used by the wisdom cache (:mod:`sktune.wisdom`). A writer never leaves a
half-written file where a reader looks: it writes a unique temp file next
to the target, syncs it, and the caller renames it into place. The lock is
``flock`` on POSIX and ``msvcrt.locking`` on Windows, taken with a bounded
wait, so a stuck holder delays a writer but never hangs it.
"""

import contextlib
import os
import time
import uuid
import warnings

from .exceptions import SktuneWarning


def write_atomic(path, text):
    """Write ``text`` to a unique temp file next to ``path``; return the temp path."""
    tmp = path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


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
