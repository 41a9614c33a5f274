"""``memo-nightly``: select the night's due tasks and run each as its own Prefect task run.

- ``run_date`` defaults to the flow run's *scheduled* date in ``MEMO_TIMEZONE``, so
  a late or retried run still does its own night.
- Each task is a task run named ``<username>/<file_name>``; at most
  ``MEMO_CONCURRENCY`` scripts run at once (the runner's script slots), and a
  ``ThreadPoolTaskRunner`` of twice as many threads prepares and records the
  next tasks meanwhile, so Prefect's bookkeeping overlaps the scripts; infrastructure
  faults are retried, a task's own failure never; one failure stops nothing.
- ``dispatch='deployment'`` instead sends each task to the ``memo-task``
  deployment, so the workers of its pool (several hosts) share the night.
- The flow ends Failed when any task failed, and leaves a table artifact:
  task, client, status, duration, bytes, message.
- The whole night holds ``night_lock``: a second nightly on the host is refused.
- Catch-up: see ``memo.catchup`` (runs the scheduler made while the host was down).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.states import Completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.failures import failed
from flows.run_logs import log_bridge
from flows.run_settings import fast_flows, resolve_settings, using_settings
from flows.units import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DELAY,
    UnitContext,
    configured_unit,
    outcome_row,
    unit_outcome,
)
from memo import catchup
from memo.errors import MemoError, OutcomeKind, TaskBusy
from memo.locks import night_lock
from memo.models import RunOutcome
from memo.lookahead import Lookahead, prepare_ahead_threads
from memo.runner import Runner, now_local
from memo.selection import select_due_tasks
from memo.settings import Settings
from memo.stopping import STOP

ARTIFACT_KEY = "memo-nightly"
GATED_LOCK_WAIT = 6 * 3600.0
"""A scheduled or catch-up run waits this long for another nightly on the host, then re-checks
whether its night was done meanwhile; a manual run is refused at once."""
TASK_DEPLOYMENT = "memo-task/memo-task"


def _night_of_run(settings: Settings) -> tuple[dt.date, dt.datetime, bool]:
    """(night, scheduled time, made by the scheduler?) of the current flow run."""
    from prefect.context import FlowRunContext
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    scheduled = dt.datetime.fromisoformat(scheduled.isoformat()).astimezone(settings.zone)
    ctx = FlowRunContext.get()
    auto = bool(ctx and ctx.flow_run and ctx.flow_run.auto_scheduled)
    return scheduled.date(), scheduled, auto


def _run_name() -> str:
    from prefect.runtime import flow_run

    night = (flow_run.parameters or {}).get("run_date")
    return f"night-{night}" if night else f"night-{flow_run.scheduled_start_time:%Y-%m-%d}"


@flow(name="memo-nightly", flow_run_name=_run_name, validate_parameters=True)
def memo_nightly(
    run_date: dt.date | None = None,
    dispatch: Literal["local", "deployment"] = "local",
    task_deployment: str = TASK_DEPLOYMENT,
    database_block: str | None = None,
    container_block: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY,
    catch_up: bool = False,
):
    """Run the night's due MEMO tasks. ``run_date`` (YYYY-MM-DD) backfills a given night.

    ``catch_up``: a run started because the night was missed; it is skipped if the
    night gets done meanwhile (runs made by the schedule behave so too).
    """
    logger = get_run_logger()
    settings = resolve_settings(database_block, container_block)
    log_bridge()
    scheduled_night, scheduled_at, auto = _night_of_run(settings)
    night = run_date or scheduled_night
    scheduled = run_date is None and auto
    if scheduled:
        decision = catchup.decide_scheduled_run(
            night=night, scheduled_at=scheduled_at, now=catchup.zone_now(settings.zone),
            cron=settings.schedule_cron, last_done=catchup.read_last_night(settings.work_dir),
            policy=settings.catch_up,
        )
        logger.info(decision.reason)
        if not decision.run:
            return Completed(name="Skipped", message=decision.reason)
    gated = scheduled or catch_up
    try:
        with night_lock(settings.work_dir, wait=GATED_LOCK_WAIT if gated else 0):
            last_done = catchup.read_last_night(settings.work_dir)
            if gated and last_done is not None and last_done >= night:
                reason = f"night {night} already ran (last recorded night {last_done})"
                logger.info(reason)
                return Completed(name="Skipped", message=reason)
            return _run_night(settings, night, dispatch, task_deployment, database_block,
                              container_block, retries, retry_delay_seconds)
    except TaskBusy as exc:
        logger.error("night %s refused: %s", night, exc.message)
        return failed(f"night {night} refused: {exc.message}")


def _run_night(settings, night, dispatch, task_deployment, database_block, container_block,
               retries, retry_delay_seconds):
    logger = get_run_logger()
    runner = Runner(settings)
    try:
        runner.remove_orphans()
        try:
            selection = select_due_tasks(runner.db.candidate_tasks(night), night)
        except MemoError as exc:  # database down: nothing ran, the night is not recorded
            logger.error("night %s: cannot select the tasks: %s", night, exc.message)
            return failed(f"night {night}: cannot select the tasks: {exc.message}")
        for bad, problem in selection.malformed:
            logger.warning("task %s (%s) not run: %s", bad.id, bad.label, problem)
        logger.info("night %s: %d task(s) due, concurrency %d, dispatch %s",
                    night, len(selection.due), settings.concurrency, dispatch)
        ctx = UnitContext(runner)
        started = now_local(settings)
        if dispatch == "deployment":
            threads = settings.concurrency  # deployment runs in flight at once
            unit = dispatch_unit.with_options(retries=0)
            make_params = lambda t: dict(  # noqa: E731
                task_id=t.id, label=t.label, deployment=task_deployment,
                parameters={"task_id": t.id, "label": t.label, "database_block": database_block,
                            "container_block": container_block, "retries": retries,
                            "retry_delay_seconds": retry_delay_seconds},
            )
        else:
            threads = prepare_ahead_threads(settings.concurrency)
            ctx.lookahead = Lookahead(settings.concurrency)
            unit = configured_unit(retries, retry_delay_seconds)
            make_params = lambda t: dict(ctx=ctx, task_id=t.id, label=t.label)  # noqa: E731
        with ThreadPoolTaskRunner(max_workers=threads) as pool:
            futures = []
            for t in selection.due:
                submit = lambda t=t: pool.submit(unit, make_params(t))  # noqa: E731
                # in order, at most MEMO_CONCURRENCY ahead of the scripts
                futures.append((t, ctx.lookahead.submit(t.id, submit) if ctx.lookahead else submit()))
            wait([f for _, f in futures])
        outcomes: list[RunOutcome] = []
        rows = []
        for t, future in futures:
            state = future.state
            outcome = unit_outcome(t.id, t.label, state, started)
            outcomes.append(outcome)
            rows.append(outcome_row(outcome, status=None if outcome.success else f"{state.name} ({outcome.kind})"))
        for bad, problem in selection.malformed:
            rows.append({"task": bad.file_name, "client": bad.username, "status": "Not run (malformed)",
                         "duration": 0, "bytes": 0, "change": "", "message": problem, "task_id": bad.id,
                         "kind": OutcomeKind.INVALID.value})
    finally:
        runner.db.dispose()
    failures = [o for o in outcomes if not o.success]
    summary = (f"night {night}: {len(outcomes) - len(failures)} of {len(outcomes)} task(s) succeeded"
               + (f", {len(failures)} failed" if failures else "")
               + (f", {len(selection.malformed)} malformed not run" if selection.malformed else "")
               + (f", {shrunk} export(s) shrank below MEMO_SHRINK_WARN" if (shrunk := sum(
                   1 for o in outcomes if o.warning)) else ""))
    create_table_artifact(rows, key=ARTIFACT_KEY, description=summary)
    if STOP.begun:  # tasks were stopped or not run: the night is caught up at the next start
        logger.warning("night %s not recorded as done: %s", night, STOP.reason)
    else:
        catchup.record_night(settings.work_dir, night)
    logger.log(logging.ERROR if failures else logging.INFO, summary)
    if failures:
        return failed(summary + ": " + "; ".join(f"{o.label}: {o.message[:200]}" for o in failures[:10]))
    return Completed(message=summary)


@task(name="memo-dispatch", task_run_name="{label}", cache_policy=NO_CACHE)
def dispatch_unit(task_id: str, label: str, deployment: str, parameters: dict):
    """Run one task as a ``memo-task`` deployment run on whichever worker of the pool takes it."""
    from prefect.deployments import run_deployment

    from flows.task import outcome_from_artifact

    flow_run = run_deployment(deployment, parameters=parameters, flow_run_name=label,
                              poll_interval=1, as_subflow=True)
    outcome = outcome_from_artifact(flow_run.id)
    if outcome is None:
        outcome = RunOutcome(task_id, False,
                             f"{flow_run.state.name if flow_run.state else 'no state'}: "
                             f"{(flow_run.state.message if flow_run.state else '') or 'no outcome reported'}",
                             dt.datetime.now(), kind=OutcomeKind.INFRASTRUCTURE, label=label)
    if not outcome.success:
        return failed(f"{outcome.message} [{outcome.kind}]", outcome)
    return outcome


def run_nightly(settings: Settings, on: dt.date | None = None, **parameters):
    """Run ``memo-nightly`` in this process for night ``on`` (default: today); its final State."""
    with using_settings(settings), fast_flows():
        return memo_nightly(run_date=on, return_state=True, **parameters)


def run_nightly_now(settings: Settings, on: dt.date | None = None) -> int:
    """``memo-taskrunner nightly``: exit code 0 iff every task of the night succeeded.

    Args:
        settings: the settings the night runs with.
        on: the night's date; ``None``: today, in the configured zone.

    Returns:
        0 when the ``memo-nightly`` flow run ended Completed, else 1.
    """
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:  # one INFO line per API request otherwise
        httpx_log.setLevel(logging.WARNING)
    state = run_nightly(settings, on)
    return 0 if state.is_completed() else 1
