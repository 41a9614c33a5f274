"""``memo-task``: one MEMO task as one flow run — ad-hoc runs, the HTTP app, the scale-out units.

    from flows.task import run_memo_task
    outcome = run_memo_task(settings, task_id, dry_run=True)   # in-process, RunOutcome back

As a deployment (``prefect deployment run 'memo-task/memo-task' --param task_id=…``)
a worker runs it with the settings of its environment, or of the named blocks.
The flow leaves a one-row table artifact (what the nightly dispatcher reads back
when it spreads a night over several workers) and ends Failed when the task failed.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.states import Completed

from flows._support import failed, fast_flows, log_bridge, resolve_settings, using_settings
from flows.units import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DELAY,
    UnitContext,
    configured_unit,
    outcome_from_state,
    outcome_row,
    task_label,
)
from memo.errors import OutcomeKind
from memo.models import RunOutcome
from memo.runner import Runner, now_local
from memo.settings import Settings

ARTIFACT_DESCRIPTION = "memo-task outcome"


class _InProcess:
    def __init__(self, runner: Runner | None, lock_wait: float | None):
        self.runner = runner
        self.lock_wait = lock_wait
        self.outcome: RunOutcome | None = None


_IN_PROCESS: contextvars.ContextVar[_InProcess | None] = contextvars.ContextVar("memo_task_call", default=None)


def _run_name() -> str:
    from prefect.runtime import flow_run

    params = flow_run.parameters or {}
    prefix = "dry-run " if params.get("dry_run") else ""
    return f"{prefix}{params.get('task_id', '?')}"


@flow(name="memo-task", flow_run_name=_run_name, validate_parameters=True)
def memo_task(
    task_id: str,
    dry_run: bool = False,
    database_block: str | None = None,
    container_block: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay_seconds: float = DEFAULT_RETRY_DELAY,
):
    """Run one MEMO task now. ``dry_run`` writes to ``<exports>/tmp`` and adds no runlog row."""
    call = _IN_PROCESS.get()
    settings = resolve_settings(database_block, container_block)
    log_bridge()
    owned = call is None or call.runner is None
    runner = Runner(settings) if owned else call.runner
    try:
        ctx = UnitContext(runner, lock_wait=call.lock_wait if call else None)
        label = task_label(runner, task_id)
        started = now_local(settings)
        unit = configured_unit(retries, retry_delay_seconds)
        state = unit(ctx, task_id, label, dry_run, return_state=True)
        outcome = ctx.ledger.get(task_id) or outcome_from_state(task_id, label, state, started)
    finally:
        if owned:
            runner.db.dispose()
    if call is not None:
        call.outcome = outcome
    row = outcome_row(outcome, status=None if outcome.success else f"{state.name} ({outcome.kind})")
    create_table_artifact([row], description=ARTIFACT_DESCRIPTION)
    if outcome.success:
        return Completed(message=f"{outcome.label}: OK, {outcome.bytes_written} bytes in {outcome.duration:.2f} s")
    return failed(f"{outcome.label}: {outcome.message}")


def run_memo_task(
    settings: Settings,
    task_id: str,
    dry_run: bool = False,
    *,
    runner: Runner | None = None,
    lock_wait: float | None = None,
    retries: int = 0,
) -> RunOutcome:
    """Run one task as a ``memo-task`` flow run in this process and return its outcome.

    For the HTTP app: no heartbeat wait; ``retries`` defaults to 0 because the
    caller answers MEMO Manager at once (its 500 carries the message). Pass a
    long-lived ``runner`` to share its database pool. Needs a Prefect API
    (``PREFECT_API_URL``); without one Prefect starts a temporary server in this
    process on the first call (7–16 s).
    """
    call = _InProcess(runner, lock_wait)
    token = _IN_PROCESS.set(call)
    try:
        with using_settings(settings), fast_flows():
            state = memo_task(task_id=task_id, dry_run=dry_run, retries=retries, return_state=True)
    finally:
        _IN_PROCESS.reset(token)
    if call.outcome is not None:
        return call.outcome
    return RunOutcome(
        task_id, False, f"the run did not finish: {state.message or state.name}",
        now_local(settings), kind=OutcomeKind.INFRASTRUCTURE, dry_run=dry_run,
    )


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
        row = data[0]
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
    return None

