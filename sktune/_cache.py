"""Where sktune keeps files between sessions: one root, one folder per use.

The root is ``$SKTUNE_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/sktune``,
else ``~/.cache/sktune``. Compiled user kernels (``jit``, ``cython``) and,
later, wisdom live in sub-folders, so clearing one never touches the others.
"""

import os
from pathlib import Path

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
