"""The Prefect task that runs one MEMO task: a thin wrapper of ``memo.runner.Runner.run_task``.

Failures are split as ``memo.errors`` splits them:

- the runner's own environment failed (``outcome.retryable``: database, sandbox,
  export disk) → the wrapper raises ``InfrastructureFault`` and Prefect retries
  it (``retries`` / ``retry_delay_seconds``);
- the task's own fault (guard refusal, failing script, timeout, bad row) →
  the wrapper returns a ``Failed`` state: recorded, never retried.

Either way the run's ``RunOutcome`` is the task run's result (``unit_outcome`` reads it
back from the state), from which the flows build their table artifacts.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.failures import failed
from flows.run_logs import attached_logs
from flows.notifications import emit_shrank
from memo.errors import DatabaseError, OutcomeKind
from memo.models import RunOutcome, TaskSpec
from memo.lookahead import Lookahead
from memo.runner import Runner, now_local

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY = 30.0

# No Prefect ``timeout_seconds``: the sandbox enforces MEMO_TASK_TIMEOUT (it kills the
# script's process group or container). In a worker thread Prefect's timeout cannot
# interrupt blocking I/O anyway, and it starts and joins a watcher thread per task run:
# measured ≈ 1/4 of Prefect's own per-task cost (bench/bench_orchestration.py, py-spy).


class InfrastructureFault(Exception):
    """Raised inside the Prefect task for a retryable outcome, so Prefect retries it."""

    def __init__(self, outcome: RunOutcome):
        super().__init__(f"{outcome.label or outcome.task_id}: {outcome.message}")
        self.outcome = outcome


def retry_infrastructure_only(task, task_run, state) -> bool:
    """``retry_condition_fn``: retry an infrastructure fault, never a task's own failure."""
    return isinstance(state.data, InfrastructureFault)


class UnitContext:
    """What every unit of a run shares: one Runner (library cache, DB pool), the lock wait,
    a night's lookahead.

    A plain class, not a dataclass: Prefect does not look inside it for futures.
    """

    def __init__(self, runner: Runner, lock_wait: float | None = None, lookahead: Lookahead | None = None):
        self.runner = runner
        self.lock_wait = lock_wait
        self.lookahead = lookahead


def run_unit(ctx: UnitContext, task_id: str, label: str, dry_run: bool = False,
             spec: TaskSpec | None = None) -> RunOutcome:
    """Run one MEMO task (its row ``spec`` if the flow has read it); see the module docstring
    for what it raises or returns."""
    with attached_logs(task_id) as attach_logs:
        try:
            outcome = ctx.runner.run_task(
                task_id, dry_run=dry_run, lock_wait=ctx.lock_wait, spec=spec,
                on_loaded=lambda _label: attach_logs(),  # the lock held: no other run's lines come now
                # a night: the next task may prepare once this one's script starts
                on_script_start=(lambda: ctx.lookahead.started(task_id)) if ctx.lookahead else None,
            )
        except DatabaseError as exc:  # the run ended but its runlog row could not be written
            outcome = RunOutcome(
                task_id, False, exc.message, now_local(ctx.runner.settings),
                kind=exc.kind, dry_run=dry_run, label=label,
            )
    emit_shrank(outcome, label)  # the shrink alarm: flows/notifications.py's "memo: export shrank" hears it
    if outcome.success:
        return outcome
    if outcome.retryable:
        raise InfrastructureFault(outcome)
    return failed(f"{outcome.message} [{outcome.kind}]", outcome)


memo_task_run = task(
    run_unit,
    name="memo-task-run",
    task_run_name="{label}",
    cache_policy=NO_CACHE,
    retries=DEFAULT_RETRIES,
    retry_delay_seconds=DEFAULT_RETRY_DELAY,
    retry_condition_fn=retry_infrastructure_only,
)


def configured_unit(retries: int = DEFAULT_RETRIES, retry_delay_seconds: float = DEFAULT_RETRY_DELAY):
    return memo_task_run.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)


def run_name(label: str, dry_run: bool) -> str:
    """A ``memo-task`` run's name: ``<client>/<file>``, ``dry-run <client>/<file>``."""
    return f"dry-run {label}" if dry_run else label


def name_flow_run(label: str, dry_run: bool) -> None:
    """Name the current flow run after its task once the row is read (a run asked for by id
    alone: ``prefect deployment run``'s, ``run_memo_task``'s)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_name(ctx.flow_run.id, run_name(label, dry_run))
    except Exception as exc:  # noqa: BLE001 - a name is not worth a failed run
        logging.getLogger("memo.flows").warning("could not name the flow run of %s: %s", label, exc)


def unit_outcome(task_id: str, label: str, state, started: dt.datetime, dry_run: bool = False) -> RunOutcome:
    """The ``RunOutcome`` a unit's or a ``memo-task`` flow's final state carries (its result, or
    the fault it raised last); for one that ended without it (crashed, cancelled), an
    infrastructure outcome."""
    data = getattr(state, "data", None)
    result = getattr(data, "result", data)  # run in this process: its ResultRecord's value, at once
    if state is not None and not isinstance(getattr(result, "outcome", result), RunOutcome):
        try:  # persisted elsewhere: Prefect reads it (an async call on its loop thread: ~2 ms a task)
            result = state.result(raise_on_failure=False)
        except Exception:  # noqa: BLE001 - a state without a readable result is a crash report below
            result = None
    result = getattr(result, "outcome", result)  # InfrastructureFault, flows.failures.ReturnedFailure
    if isinstance(result, RunOutcome):
        return result
    return outcome_from_state(task_id, label, state, started, dry_run)


def outcome_row(outcome: RunOutcome, status: str | None = None) -> dict[str, Any]:
    """One line of the artifact: task, client, status, duration, bytes, their change against
    the export replaced ("-62.0% (shrank)" below MEMO_SHRINK_WARN), message."""
    label = outcome.label or outcome.task_id
    client, _, name = label.partition("/")
    return {
        "task": name or label,
        "client": client if name else "",
        "status": status or ("Completed" if outcome.success else f"Failed ({outcome.kind})"),
        "duration": round(outcome.duration, 3),
        "bytes": outcome.bytes_written,
        "change": outcome.change,
        "message": outcome.message,
        "task_id": outcome.task_id,
        "kind": outcome.kind.value,
    }


def outcome_from_state(task_id: str, label: str, state, started: dt.datetime, dry_run: bool = False) -> RunOutcome:
    """An outcome for a unit that ended without one (crashed, Prefect timeout, cancelled)."""
    message = (state.message if state is not None else None) or "the run ended without an outcome"
    name = state.name if state is not None else "Crashed"
    return RunOutcome(task_id, False, f"{name}: {message}", started, kind=OutcomeKind.INFRASTRUCTURE, label=label,
                      dry_run=dry_run)
