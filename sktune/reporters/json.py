"""JSON report: the saved result plus the whole recommendation, for machines.

The document is :meth:`ProfileResult.to_dict` (so :func:`sktune.load` reads it
back) with the recommendation's alternatives and caveats added, and the
per-candidate summary, pretty-printed.
"""

import json
import math

from ..results import _json_default
from .base import Reporter


def _clean(value):
    """NaN is not JSON: write null instead."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JSONReporter(Reporter):
    """The result and its recommendation as indented JSON."""

    name = "json"
    extensions = (".json",)

    def render(self, result) -> str:
        rec = result.recommendation
        data = result.to_dict()
        data["recommendation"].update(
            describe=rec.best.describe(),
            alternatives=[c.to_dict() for c in rec.alternatives],
            caveats=list(rec.caveats))
        summary = result.summary().astype(object)
        data["summary"] = summary.where(summary.notna(), None).to_dict("records")
        return json.dumps(_clean(data), indent=2, default=_json_default,
                          allow_nan=False) + "\n"
