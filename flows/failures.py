"""A Failed state a flow or unit returns is no crash: no engine traceback after it, and the
run's ``RunOutcome`` rides along as the state's data (``ReturnedFailure``)."""

from __future__ import annotations

import collections
import logging
import threading

_RETURNED_FAILURES: collections.deque[str] = collections.deque(maxlen=64)
_quiet_lock = threading.Lock()
_quiet_installed = False


class ReturnedFailure(Exception):
    """The data of a ``Failed`` state a flow or unit returns: Prefect wants an exception there
    (a worker's engine raises it), and it carries the run's ``outcome`` back to the caller."""

    def __init__(self, message: str, outcome=None):
        super().__init__(message)
        self.outcome = outcome


class _ReturnedFailureFilter(logging.Filter):
    """Drops Prefect's crash report of a run that ended on a ``Failed`` state its flow returned.

    Run by a worker or a served deployment, Prefect's engine turns that state, once
    recorded, into a ``FailedRun`` (message: the state's) and logs it as "Engine execution
    exited with unexpected exception" with a ~30-line traceback, in the run's logs and the
    process output. The flow has already logged why it failed. Only a ``FailedRun`` whose
    message is one the flows returned is dropped: any other exception is still reported.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.exceptions import FailedRun

        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ReturnedFailure)
                    or (isinstance(exc, FailedRun) and str(exc) in _RETURNED_FAILURES))


def failed(message: str, outcome=None):
    """``Failed(message=...)`` for a flow or unit to return, without a crash report after it;
    ``outcome`` (a ``RunOutcome``) rides along as the state's result (``ReturnedFailure``)."""
    global _quiet_installed
    from prefect.states import Failed

    with _quiet_lock:
        _RETURNED_FAILURES.append(message)
        if not _quiet_installed:
            quiet = _ReturnedFailureFilter()
            for name in ("prefect.flow_runs", "prefect.engine"):  # the engine's two reports
                logging.getLogger(name).addFilter(quiet)
            _quiet_installed = True
    return Failed(message=message, data=None if outcome is None else ReturnedFailure(message, outcome))
