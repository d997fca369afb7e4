"""Optional packages: found without importing them, with the command that installs them.

The model is scikit-learn's ``utils/_optional_dependencies.py``: one place
knows, for each optional package, the module to look for, the distribution
whose version to read and sktune's extra that installs it. Looking never
imports (``import ray`` alone takes seconds, and must never happen in the
user's process): the module is found with :func:`importlib.util.find_spec`
and the version read from the distribution's metadata. A leaf module.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class OptionalPackage:
    """One optional dependency of sktune.

    Attributes
    ----------
    display : str
        How people call it (``"dask.distributed"``).
    module : str
        The top-level module to find (``"distributed"``).
    distribution : str
        The distribution whose metadata holds the version.
    extra : str
        sktune's extra that installs it (``pip install 'sktune[dask]'``).
    """

    display: str
    module: str
    distribution: str
    extra: str

    @property
    def install_hint(self):
        """The command that installs it: ``pip install 'sktune[dask]'``."""
        return f"pip install 'sktune[{self.extra}]'"

    def version(self):
        """The installed version, ``"unknown version"`` without metadata, None if absent."""
        from importlib.metadata import PackageNotFoundError, version
        from importlib.util import find_spec

        try:
            found = find_spec(self.module) is not None
        except (ImportError, ValueError):  # a broken or half-removed install
            found = False
        if not found:
            return None
        try:
            return version(self.distribution)
        except PackageNotFoundError:  # importable but without metadata
            return "unknown version"

    def why_unavailable(self):
        """None if installed, else one line: ``ray is not installed (pip install ...)``."""
        if self.version() is None:
            return f"{self.display} is not installed ({self.install_hint})"
        return None
