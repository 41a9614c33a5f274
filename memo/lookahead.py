"""How a night keeps its ``MEMO_CONCURRENCY`` script slots busy and its scripts in order.

A night hands ``Runner.run_task`` more threads than there are script slots
(``prepare_ahead_threads``), so the next task is loaded, guarded and built while a script
runs; ``Lookahead`` admits the tasks one by one in the night's order, at most
``MEMO_CONCURRENCY`` of them ahead of the scripts, so the extra threads never reorder them.

Its own module because it is the night's pacing, not one run: ``memo.runner`` runs a task
and guards its script slots (``Runner.script_slots``), whoever calls it; the flows
(``flows.nightly``, ``flows.units``) and the orchestration benchmark pace a night with
this. (Not ``night_schedule``: which tasks are due, and when a night runs, are
``memo.selection`` and ``memo.catchup``.) Pure threads, no Prefect.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


def prepare_ahead_threads(concurrency: int) -> int:
    """Threads a night gives ``run_task`` so that ``concurrency`` script slots stay busy.

    While a task's script runs, one more thread per slot loads, guards and builds the
    next task and its caller does its bookkeeping (Prefect's task run states, ~5 ms of
    CPU a task): that work overlaps the scripts instead of adding to the night.
    ``Lookahead`` keeps the scripts starting in the night's order.

    Args:
        concurrency: the night's script slots (``MEMO_CONCURRENCY``).

    Returns:
        The number of threads for the night's pool.
    """
    return 2 * concurrency


class Lookahead:
    """Admits a night's tasks one by one, at most ``depth`` of them ahead of the scripts.

    A task is admitted (``admit``, blocking) before it starts preparing and leaves the
    lookahead when its script starts or its run ends (``started``, once per task, safe
    to call again). With ``depth`` = ``MEMO_CONCURRENCY`` = 1 the scripts start in the
    night's order, one task prepares while the previous one's script runs, and the
    night never waits on a task that cannot start (its run ending also releases it).

    Args:
        depth: how many admitted tasks may be waiting for their script to start
            (the night's ``MEMO_CONCURRENCY``).
    """

    def __init__(self, depth: int):
        self._free = threading.BoundedSemaphore(depth)
        self._admitted: set[str] = set()
        self._lock = threading.Lock()

    def admit(self, key: str) -> None:
        """Wait until fewer than ``depth`` tasks are ahead of the scripts, then admit ``key``.

        Args:
            key: the task's id, as later given to ``started``.
        """
        self._free.acquire()
        with self._lock:
            self._admitted.add(key)

    def submit(self, key: str, submit: Callable[[], Any]) -> Any:
        """Admit ``key``, then ``submit()`` its run; the returned future's end releases it.

        Any future with ``add_done_callback`` will do (``concurrent.futures``, Prefect's).

        Args:
            key: the task's id (its run calls ``started(key)`` when its script starts).
            submit: starts the task's run and returns its future.

        Returns:
            The future ``submit()`` returned.
        """
        self.admit(key)
        future = submit()
        future.add_done_callback(lambda _future: self.started(key))
        return future

    def started(self, key: str) -> None:
        """``key``'s script started (or its run ended): the next task may be admitted.

        Args:
            key: an admitted task's id; a key not (or no longer) admitted is ignored.
        """
        with self._lock:
            if key not in self._admitted:
                return
            self._admitted.discard(key)
        self._free.release()
