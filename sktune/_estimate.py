"""``budget="estimate"``: an answer without timing, from a hint or from rules.

When this machine has no wisdom for the workload (that case never gets
here), the answer is, in order: the recommendation measured for the same
workload on another machine (an imported wisdom entry), if it is one of
this machine's candidates; else the rules of :mod:`sktune._rules`. Either
way the result says it is an estimate and times nothing.
"""

from .machine import Machine
from .results import ProfileResult


def _hint(store, key, candidates, fingerprint):
    """An estimate from another machine's wisdom, or None."""
    if store is None:
        return None
    for entry in store.hints(key, exclude_fingerprint=fingerprint):
        try:
            other = entry.result()
        except Exception:  # noqa: BLE001 - a hint is optional, never fatal
            continue
        best = other.best
        if best not in candidates or other.recommendation.verdict == "estimated":
            continue
        summary = entry.data.get("machine_summary") or {}
        where = (f"{summary.get('cpu_model', 'another machine')}, "
                 f"{summary.get('usable_cores', '?')} usable cores")
        speed = ("" if other.recommendation.verdict != "faster"
                 else f" at {other.speedup} the as-written speed")
        return {"index": candidates.index(best), "confidence": "medium",
                "source": "hint",
                "reasons": (f"Estimated from wisdom imported from another machine "
                            f"({where}; {entry.data.get('created', '?')}), where "
                            f"{best.describe()} was measured as the best{speed}.",
                            "This machine may differ: profile with budget='quick' or "
                            "more to measure it here.")}
    return None


def estimated_result(estimator, workload, plan, store, key, workload_fields, settings):
    """A :class:`~sktune.ProfileResult` chosen without timing anything."""
    from ._rules import estimate, work_facts

    machine = Machine.detect(refresh_threadpools=False)
    candidates = list(plan.candidates)
    chosen = _hint(store, key, candidates, machine.stable_fingerprint)
    if chosen is None:
        rules = estimate(candidates, plan.layers, signature=workload.signature,
                         usable_cores=machine.usable_cores,
                         physical_cores=machine.physical_cores,
                         work=work_facts(plan.seeded))
        chosen = {"index": rules.index, "reasons": list(rules.reasons),
                  "confidence": rules.confidence, "source": "rules"}
    chosen["reasons"] = list(chosen["reasons"])
    return ProfileResult(
        candidates=candidates, records=[], equivalence={}, machine=machine,
        workload=workload_fields, excluded=plan.excluded, notes=plan.notes,
        search={"budget": "estimate", "elapsed_s": 0.0, "rounds": 0, "n_runs": 0,
                "stop_reason": "budget='estimate' times nothing",
                "interrupted": False},
        settings=settings, origin={"source": "estimate", "from": chosen["source"]},
        estimate=chosen)
