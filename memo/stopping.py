"""A runner process asked to stop (``serve`` on SIGTERM) ends its runs cleanly, in two steps.

1. ``begin``: a run not started yet is not started (``RunnerStopping``: nothing written, no
   runlog row, as if it had never been asked for); runs already going go on.
2. ``abandon`` (``serve`` calls it a grace period later): every script still running is
   killed through the callback its sandbox registered with ``while_running``; the runner
   reports such a run as stopped (``RunStopped``): its export is left as it was and its
   runlog row says it was stopped.

One per process (``STOP``): the signal arrives in the main thread, the runs are in others.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from typing import Callable, Iterator

log = logging.getLogger("memo.stopping")


class StopRequest:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kills: dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()
        self.reason: str | None = None
        self.abandoned = False

    @property
    def begun(self) -> bool:
        return self.reason is not None

    def begin(self, reason: str) -> None:
        """No run starts from now on; ``reason`` says why (e.g. ``the task runner is stopping (SIGTERM)``).

        Args:
            reason: why, for the runs refused from now on; a stop already begun keeps its first reason.
        """
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def abandon(self) -> int:
        """Kill every script still running; how many there were.

        Begins the stop too, if nothing had (``reason``: ``the task runner is stopping``). A kill
        that fails is logged; the others still run.

        Returns:
            The number of scripts that were running.
        """
        with self._lock:
            if self.reason is None:
                self.reason = "the task runner is stopping"
            self.abandoned = True
            kills = list(self._kills.values())
        for kill in kills:
            try:
                kill()
            except Exception:  # one failed kill must not spare the others
                log.exception("could not stop a script")
        return len(kills)

    @contextlib.contextmanager
    def while_running(self, kill: Callable[[], None]) -> Iterator[None]:
        """Around a script's run: ``abandon`` calls ``kill`` (at once if it already happened)."""
        key = next(self._ids)
        with self._lock:
            self._kills[key] = kill
            already = self.abandoned
        try:
            if already:
                kill()
            yield
        finally:
            with self._lock:
                self._kills.pop(key, None)


STOP = StopRequest()
