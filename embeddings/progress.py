"""Progress bars that suit where the output goes.

On a terminal or in Jupyter: an ordinary tqdm bar. Anywhere else (a log file, CI, a pipe):
plain lines, one every ``LINE_INTERVAL`` seconds and one at the end, instead of hundreds of
carriage-return updates full of escape codes. Every long loop of the packages takes its bar from
``progress_bar``; callers turn bars off with the ``progress=False`` argument of each entry point.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from importlib.util import find_spec
from typing import Any, TextIO

from tqdm.std import tqdm as _std_tqdm

__all__ = ["progress_bar", "LINE_INTERVAL"]

#: seconds between two plain progress lines when the output is not a terminal
LINE_INTERVAL = float(os.environ.get("EMBRECALL_PROGRESS_INTERVAL", "30"))

_LINE_FORMAT = (
    "{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed} elapsed, {remaining} left, {rate_fmt}{postfix}]"
)


class _LineBar(_std_tqdm):
    """tqdm that writes whole lines (no carriage returns, no bar): at most one every
    ``mininterval`` seconds, and a final one when the loop ends."""

    _last_line = -1.0e18
    _closing = False

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg == "":  # tqdm clearing the line: nothing to clear in a log
            return True
        now = self._time()
        if not self._closing and now - self._last_line < self.mininterval:
            return True
        self._last_line = now
        d = dict(self.format_dict)
        d["bar_format"] = _LINE_FORMAT
        self.fp.write(self.format_meter(**d) + "\n")
        self.fp.flush()
        return True

    def close(self) -> None:
        if self.disable:
            return
        self._closing = True
        fp = self.fp
        self.fp = _NoNewline(fp)  # tqdm ends a kept bar with a bare newline: not in a log
        try:
            super().close()
        finally:
            self.fp = fp


class _NoNewline:
    def __init__(self, fp: Any) -> None:
        self._fp = fp

    def write(self, s: str) -> None:
        if s not in ("\n", "\r"):
            self._fp.write(s)

    def flush(self) -> None:
        self._fp.flush()


def _interactive(stream: TextIO) -> bool:
    if "ipykernel" in sys.modules:  # a Jupyter kernel: tqdm.auto draws a widget or a bar
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    leave: bool = True,
    file: TextIO | None = None,
) -> Any:
    """A tqdm bar on a terminal or in Jupyter, plain periodic lines otherwise (see module doc)."""
    stream = file if file is not None else sys.stderr
    if disable or _interactive(stream):
        tqdm = _std_tqdm
        if not disable and "ipykernel" in sys.modules and find_spec("ipywidgets") is not None:
            from tqdm.notebook import tqdm  # a widget; without ipywidgets the text bar (no warning)
        return tqdm(
            iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave, file=file
        )
    return _LineBar(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=True,  # the final line is the summary of the loop: always keep it
        file=stream,
        mininterval=LINE_INTERVAL,
        maxinterval=LINE_INTERVAL,
        miniters=1,
        ascii=True,
    )
