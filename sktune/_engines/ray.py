"""ray behind joblib: a local ray, started in sktune's worker process only.

ray's joblib backend patches joblib's process pool class for the whole
process (PITFALLS.md section 2.1, checklist item 27), so its trials never
run in the user's process: ``isolation="none"`` leaves them out, saying
why. A ray that the caller started is used and left running; one started
here is shut down with the session.
"""

import time
from dataclasses import replace

from .._optional import OptionalPackage
from .base import Engine


class RayEngine(Engine):
    """ray's joblib backend on a local ray."""

    name = "ray"
    package = OptionalPackage(display="ray", module="ray", distribution="ray", extra="ray")
    backend = "ray"
    process_workers = True

    @classmethod
    def candidates(cls, estimator, candidates, layers, usable_cores, *, isolation,
                   client_address=None):
        config = replace(candidates[0], n_jobs=usable_cores, backend=cls.backend)
        reason = cls.why_not(config, isolation=isolation)
        return ([], [(config, reason)], []) if reason else ([config], [], [])

    @classmethod
    def why_not(cls, config, *, isolation, client_address=None):
        if isolation != "process":
            return ("the ray backend patches joblib for the whole process, so its "
                    "trials run only in sktune's worker process (isolation='process')")
        return cls.why_unavailable()

    def __init__(self, session):
        super().__init__(session)
        self._started = None  # True: started here; False: the caller's

    def joblib_backend(self, config):
        if self._started is None:
            import ray
            from ray.util.joblib import register_ray

            began = time.perf_counter()
            self._started = not ray.is_initialized()
            if self._started:
                ray.init(num_cpus=self.session.ray_cpus, include_dashboard=False,
                         log_to_driver=False, _temp_dir=self.session.folder("ray"))
                self.session.started.append(("Starting a local ray",
                                             time.perf_counter() - began))
            register_ray()
        return "ray"

    def close(self):
        errors = []
        if self._started:
            import ray

            try:
                ray.shutdown()
            except Exception as exc:
                errors.append(f"ray: {exc}")
        self._started = None
        return errors
