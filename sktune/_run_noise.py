"""The machine's between-run noise, kept in the cache folder.

:func:`sktune.calibration.calibrate` measures it (the standard deviation of
the log of one comparison re-measured by independent runs) and
:func:`save_run_noise` keeps it per machine fingerprint in
``<cache>/calibration/run_noise.json``; :func:`sktune.profile` reads it
with :func:`measured_run_noise` for the intervals of its result
(:func:`sktune._stats.speedup_interval`). Reading never creates the folder.
"""

import json
import math
import time

#: The file, in the cache folder ``calibration``, that keeps the measured
#: between-run noise per machine fingerprint.
NOISE_FILE = "run_noise.json"


def save_run_noise(run_noise, fingerprint=None):
    """Keep ``run_noise`` for the machine ``fingerprint`` in the cache folder.

    ``fingerprint`` defaults to this machine's stable fingerprint (the one
    :func:`sktune.profile` looks the noise up by).

    Returns
    -------
    path : pathlib.Path
    """
    from ._files import cache_dir, write_atomic

    if fingerprint is None:
        from .machine import Machine

        fingerprint = Machine.detect(refresh_threadpools=False).stable_fingerprint
    path = cache_dir("calibration") / NOISE_FILE
    known = _read_noise(path)
    known[fingerprint] = {"run_noise": float(run_noise),
                          "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_atomic(path, json.dumps(known, indent=2, sort_keys=True))
    return path


def _read_noise(path):
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def measured_run_noise(fingerprint):
    """The between-run noise measured here by :func:`sktune.calibration.calibrate`, or None.

    Reads the cache folder without creating it.
    """
    from ._files import cache_root

    entry = _read_noise(cache_root() / "calibration" / NOISE_FILE).get(fingerprint)
    value = entry.get("run_noise") if isinstance(entry, dict) else None
    if isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value < 1:
        return float(value)
    return None
