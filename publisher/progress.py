"""Progress bars a log file can hold: tqdm's bar on a terminal; elsewhere (a file, a pipe) no bar at all,
and one line when a stage's bar closes (``synthesizing: 8 granule-years in 55.2 s``), so a log never
fills with carriage-return states. Every module imports ``tqdm`` from here instead of from tqdm."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm as _tqdm

log = logging.getLogger("devscore.progress")


class tqdm(_tqdm):  # noqa: N801  (tqdm's own name, so call sites read as tqdm's)
    """tqdm when its stream is a terminal; otherwise silent, counting, and logging one line at close
    (bars with ``leave=False``, the inner ones, log nothing). ``disable=True`` silences both."""

    def __init__(self, iterable=None, *args, **kwargs) -> None:
        stream = kwargs.get("file") or sys.stderr
        self._quiet = not kwargs.get("disable") and not getattr(stream, "isatty", lambda: False)()
        if self._quiet:
            kwargs["disable"] = True
            self._count, self._started = kwargs.get("initial", 0), time.perf_counter()
            self._label, self._unit = kwargs.get("desc") or "progress", kwargs.get("unit") or "it"
            self._log_at_close = kwargs.get("leave", True)
        super().__init__(iterable, *args, **kwargs)

    def __iter__(self):
        if not self._quiet:
            yield from super().__iter__()
            return
        for element in self.iterable:
            self._count += 1
            yield element

    def update(self, n: float = 1):
        if self._quiet:
            self._count += n
            return None
        return super().update(n)

    def close(self) -> None:
        if self._quiet and self._log_at_close:
            self._log_at_close = False
            label = (getattr(self, "desc", "") or "").removesuffix(": ") or self._label  # set_description renames
            log.info("%s: %g %s%s in %.1f s", label, self._count, self._unit, "" if self._count == 1 else "s",
                     time.perf_counter() - self._started)
        super().close()
