"""``memo-task``: one MEMO task as one flow run of Prefect's engine.

    from flows.task import run_memo_task
    outcome = run_memo_task(settings, task_id, dry_run=True)   # in-process, RunOutcome back

The flow runs the task as one Prefect task run (``flows.units.run_unit``: infrastructure
faults retried) and returns its ``RunOutcome`` as the flow's result. Its runs are named
``<client>/<file>`` (``dry-run <client>/<file>``): a night that spreads over workers passes
the ``label`` it knows; a run asked for by id alone reads the row once, names its runs and
hands the row to the unit. Each run leaves a
one-row table artifact under the key ``memo-task-<task id>`` (what the night reads back from
a worker's run) and ends Failed when the task failed.

As a deployment (``prefect deployment run 'memo-task/memo-task' --param task_id=…``) a
worker runs it with the settings of its environment, or of the named blocks. The HTTP app's
runs are recorded as runs of the same deployment without the engine: ``flows.recorded``.
"""

from __future__ import annotations

import datetime as dt
import json

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.states import Completed

from flows.failures import failed
from flows.run_logs import log_bridge
from flows.run_settings import fast_flows, resolve_settings, using_settings
from flows.units import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DELAY,
    UnitContext,
    configured_unit,
    name_flow_run,
    outcome_row,
    run_name,
    unit_outcome,
)
from memo.errors import MemoError, OutcomeKind
from memo.models import RunOutcome
from memo.runner import TASK_ID, Runner, now_local
from memo.settings import Settings

ARTIFACT_DESCRIPTION = "memo-task outcome"


def artifact_key(task_id: str, dry_run: bool = False) -> str:
    """The key a task's ``memo-task`` artifacts are kept under (Prefect allows a-z, 0-9, -):
    ``memo-task-<id>``, ``memo-task-<id>-dry-run`` (a dry run's is never the latest of the real
    runs' key, where it would pass for the export's outcome)."""
    key = "memo-task-" + "".join(c for c in task_id.lower() if c in "0123456789abcdefghijklmnopqrstuvwxyz-")
    return key + "-dry-run" if dry_run else key


def _flow_run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters or {}
    return run_name(params.get("label") or params.get("task_id", "?"), bool(params.get("dry_run")))


def final_message(outcome: RunOutcome) -> str:
    """The message of a ``memo-task`` run's final state."""
    if outcome.success:
        return f"{outcome.label}: OK, {outcome.bytes_written} bytes in {outcome.duration:.2f} s"
    return f"{outcome.label or outcome.task_id}: {outcome.message}"


def finished_state(outcome: RunOutcome):
    """The flow's final state, the outcome its result: Completed, or Failed with the reason."""
    if outcome.success:
        return Completed(message=final_message(outcome), data=outcome)
    return failed(final_message(outcome), outcome)


@flow(name="memo-task", flow_run_name=_flow_run_name, validate_parameters=True)
def memo_task(
    task_id: str,
    dry_run: bool = False,
    database_block: str | None = None,
    container_block: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY,
    lock_wait: float | None = None,
    label: str | None = None,
):
    """Run one MEMO task now. ``dry_run`` writes to ``<exports>/tmp`` and adds no runlog row;
    ``lock_wait`` 0 answers busy at once if the task runs elsewhere on the host."""
    settings = resolve_settings(database_block, container_block)
    log_bridge()
    runner = Runner(settings)
    try:
        started = now_local(settings)
        spec = None
        if label is None:  # asked for by id: read the row once, here, to name the runs
            spec = _read_row(runner, task_id)
            label = spec.task.label if spec else task_id
            if spec:
                name_flow_run(label, dry_run)
        unit = configured_unit(retries, retry_delay_seconds)
        state = unit(UnitContext(runner, lock_wait=lock_wait), task_id, label, dry_run, spec, return_state=True)
        outcome = unit_outcome(task_id, label, state, started)
    finally:
        runner.db.dispose()
    create_table_artifact([outcome_row(outcome)], key=artifact_key(task_id, dry_run), description=ARTIFACT_DESCRIPTION)
    return finished_state(outcome)


def _read_row(runner: Runner, task_id: str):
    """The task's row, or None when it cannot be read now (the unit reads it again and reports
    why, retried if the database is down)."""
    if not TASK_ID.match(task_id):
        return None
    try:
        return runner.db.load_task(task_id)
    except MemoError:
        return None


def run_memo_task(settings: Settings, task_id: str, dry_run: bool = False, *,
                  lock_wait: float | None = None, retries: int = 0) -> RunOutcome:
    """Run one task as a ``memo-task`` flow run in this process and return its outcome.

    Args:
        settings: the run's settings (they never travel as flow parameters: the password).
        task_id: the task to run.
        dry_run: write to ``<exports>/tmp``, no runlog row.
        lock_wait: seconds to wait for the task's host-wide lock (0: busy at once).
        retries: Prefect retries of an infrastructure fault (0: the caller answers at once).

    Returns:
        The flow's result: the run's ``RunOutcome``; an ``infrastructure`` outcome if the flow
        run ended without one. Needs a Prefect API (``PREFECT_API_URL``); without one Prefect
        starts a temporary server in this process on the first call (7–16 s).
    """
    started = now_local(settings)
    with using_settings(settings), fast_flows():
        state = memo_task(task_id=task_id, dry_run=dry_run, retries=retries, lock_wait=lock_wait,
                          return_state=True)
    return unit_outcome(task_id, task_id, state, started, dry_run)


def outcome_from_artifact(flow_run_id, state=None) -> RunOutcome | None:
    """The outcome a ``memo-task`` flow run (on any worker) left in its artifact."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    for artifact in artifacts:
        if artifact.description != ARTIFACT_DESCRIPTION or not artifact.data:
            continue
        data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        return outcome_of_row(data[0])
    return None


def outcome_of_row(row: dict) -> RunOutcome:
    """The ``RunOutcome`` an artifact row (``flows.units.outcome_row``) describes."""
    client_name, name = row.get("client") or "", row.get("task") or ""
    return RunOutcome(
        task_id=row["task_id"],
        success=row["kind"] == OutcomeKind.OK,
        message=row["message"],
        started_at=dt.datetime.now(),
        duration=float(row["duration"]),
        bytes_written=int(row["bytes"]),
        kind=OutcomeKind(row["kind"]),
        label=f"{client_name}/{name}" if client_name else name,
    )
