"""JSON report: the saved result plus the whole recommendation, for machines.

The document is :meth:`ProfileResult.to_dict` (so :func:`sktune.load` reads it
back) with the recommendation's alternatives and caveats added, and the
per-candidate summary, pretty-printed.
"""

from .._json import dumps, without_nan
from .base import Reporter


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
        return dumps(without_nan(data), indent=2, allow_nan=False) + "\n"
