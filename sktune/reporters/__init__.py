"""Report plug-ins: a result rendered as HTML, Markdown, JSON or text, on disk.

Reporters are registered by name, like joblib's backends: :data:`REPORTERS`
maps a lowercase name to a :class:`Reporter` subclass, :func:`register_reporter`
adds one, :func:`get_reporter` finds one by name or by a file's extension and
:func:`write_report` writes a report (``ProfileResult.report`` calls it).
"""

import os
import pathlib

from .._validation import REGISTRY_NAME, invalid_choice, subclass_of, validated
from ..exceptions import InvalidParameterError
from .base import Reporter
from .html import HTMLReporter
from .json import JSONReporter
from .markdown import MarkdownReporter
from .text import TextReporter

__all__ = ["Reporter", "HTMLReporter", "MarkdownReporter", "JSONReporter", "TextReporter",
           "REPORTERS", "register_reporter", "get_reporter", "write_report"]

#: Reporter classes by name.
REPORTERS = {}


@validated({"name": [REGISTRY_NAME],
            "cls": [subclass_of(Reporter, "sktune.reporters.Reporter")]})
def register_reporter(name: str, cls: type) -> None:
    """Make a reporter available by name and by its file extensions.

    Parameters
    ----------
    name : str
        Lowercase registry key; an existing one is replaced.
    cls : type
        A subclass of :class:`Reporter`.
    """
    REPORTERS[name] = cls


for _cls in (HTMLReporter, MarkdownReporter, JSONReporter, TextReporter):
    register_reporter(_cls.name, _cls)


def _by_extension():
    return {ext.lower(): cls for cls in REPORTERS.values() for ext in cls.extensions}


@validated({"name": [str, None], "path": [str, os.PathLike, None]})
def get_reporter(name: "str | None" = None, path=None) -> Reporter:
    """Return a reporter chosen by name, or else by the extension of ``path``.

    Parameters
    ----------
    name : str, default=None
        A key of :data:`REPORTERS`; wins over ``path``.
    path : str or path-like, default=None
        Where the report goes; its extension (``.html``, ``.md``...) picks
        the reporter when ``name`` is None.

    Returns
    -------
    reporter : Reporter

    Raises
    ------
    InvalidParameterError
        If the name or the extension is unknown, or neither is given.
    """
    if name is not None:
        if name not in REPORTERS:
            raise InvalidParameterError(invalid_choice("reporter", name, REPORTERS))
        return REPORTERS[name]()
    if path is None:
        raise InvalidParameterError(
            "get_reporter needs a reporter name or a path with a known extension; "
            f"reporters: {sorted(REPORTERS)}.")
    suffix = pathlib.Path(path).suffix.lower()
    extensions = _by_extension()
    if suffix not in extensions:
        raise InvalidParameterError(
            invalid_choice("report extension", suffix, extensions)[:-1]
            + f" (from {str(path)!r}). Pass format=... to pick a reporter by name.")
    return extensions[suffix]()


@validated({"path": [str, os.PathLike], "format": [str, None]})
def write_report(result, path, format: "str | None" = None) -> pathlib.Path:
    """Write a report of ``result`` to ``path`` (UTF-8).

    Parameters
    ----------
    result : ProfileResult
    path : str or path-like
    format : str, default=None
        A reporter name; None picks one from the extension of ``path``.

    Returns
    -------
    path : pathlib.Path
    """
    path = pathlib.Path(path)
    reporter = get_reporter(format, path)
    text = reporter.render(result)
    path.write_text(text, encoding="utf-8")
    return path
