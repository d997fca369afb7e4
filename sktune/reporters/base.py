"""The contract of a report plug-in: one result in, one text document out.

A :class:`Reporter` renders a :class:`~sktune.ProfileResult` (its
recommendation included) as text in one format. Reporters hold no state and
write nothing: :func:`sktune.reporters.write_report` picks one by name or by
file extension and writes what it returns (the model is pyinstrument's
``renderers/base.py``).
"""

from abc import ABC, abstractmethod


class Reporter(ABC):
    """Base class of report formats.

    Subclass it, set :attr:`name` and :attr:`extensions`, implement
    :meth:`render` and register the class with
    :func:`sktune.reporters.register_reporter`.

    Attributes
    ----------
    name : str
        Registry key, lowercase (``"html"``).
    extensions : tuple of str
        File extensions, with the dot, that select this reporter
        (``(".html", ".htm")``).
    """

    name = None
    extensions = ()

    @abstractmethod
    def render(self, result) -> str:
        """Return the whole document for ``result``.

        Parameters
        ----------
        result : ProfileResult

        Returns
        -------
        document : str
        """

    def __repr__(self):
        return f"{type(self).__name__}()"
