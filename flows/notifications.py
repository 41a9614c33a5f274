"""The runner's Prefect automations: a failed night, a failed MEMO task, a shrunk export,
each sent to one notification block the operator chose (e-mail, Slack, a webhook, …).

    memo-taskrunner notifications --block custom-webhook/memo-alerts

They live on the Prefect server and its triggers and actions services act on them, so a
message goes out however the run was started (schedule, worker, serve, CLI, UI). Creating
them again updates them by name: never a second copy.

- ``memo: night failed`` — a ``memo-nightly`` flow run entering Failed, Crashed or TimedOut;
  the message is the night's summary (which names the failed tasks).
- ``memo: task failed`` — a task run of a ``memo-nightly`` or ``memo-task`` flow run
  entering Failed, Crashed or TimedOut: its name is the task's ``<client>/<file>``, its
  message the reason. With ``dispatch=deployment`` a failure is heard twice, from the
  worker's ``memo-task-run`` and from the night's ``memo-dispatch`` of the same name.
- ``memo: HTTP task failed`` — a run MEMO Manager asked for over HTTP ended Failed: the
  ``memo-task`` flow run the HTTP app records (tag ``memo-http``, no task run of its own:
  ``flows.recorded``); its name is the task's ``<client>/<file>``, its message the reason.
- ``memo: export shrank`` — the ``memo.export.shrank`` event that ``flows.units`` emits
  for an export smaller than ``MEMO_SHRINK_WARN`` times the one it replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memo.errors import ConfigError, MemoError

if TYPE_CHECKING:
    from memo.models import RunOutcome

SHRANK_EVENT = "memo.export.shrank"
FAILED_STATES = ("Failed", "Crashed", "TimedOut")


def emit_shrank(outcome: "RunOutcome", label: str | None = None) -> None:
    """Announce a shrunk export (``outcome.warning``) as a Prefect event, related to the flow and
    task run that made it; nothing for an outcome without the warning.

    Args:
        outcome: the run's outcome.
        label: the task's ``<client>/<file>`` if the outcome lacks it.
    """
    if not outcome.warning:
        return
    from prefect.events import emit_event

    emit_event(event=SHRANK_EVENT,
               resource={"prefect.resource.id": f"memo.task.{outcome.task_id}",
                         "prefect.resource.name": outcome.label or label or outcome.task_id},
               payload={"warning": outcome.warning, "bytes": outcome.bytes_written,
                        "previous_bytes": outcome.previous_bytes, "change": outcome.change})


@dataclass(frozen=True)
class Notice:
    """One automation: what it listens for and what it says."""

    name: str
    description: str
    events: tuple[str, ...]
    match: dict[str, Any]
    match_related: dict[str, Any] | list[dict[str, Any]]
    subject: str
    body: str


PLAIN = " | replace('<', '‹') | replace('>', '›')"
"""Shown, not acted on: what scripts and rows wrote (a reason's stderr tail, a client's name)
reaches chat and mail with ``<``/``>`` as ‹ ›, so that ``<!channel>`` pings nobody and
``<https://…|text>`` is no disguised link (Slack's markup; HTML mail alike)."""
STATE = "{{ event.resource['prefect.state-name'] }}"
MESSAGE = "{{ event.resource['prefect.state-message']" + PLAIN + " }}"
NAME = "{{ event.resource.name" + PLAIN + " }}"
FLOW_RUN = "{{ flow_run.name" + PLAIN + " }}"

NOTICES = (
    Notice(
        name="memo: night failed",
        description="A memo-nightly flow run ended Failed, Crashed or TimedOut (memo-taskrunner notifications).",
        events=tuple(f"prefect.flow-run.{s}" for s in FAILED_STATES),
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": "memo-nightly"},
        subject="MEMO: night " + NAME + " " + STATE,
        body=f"MEMO night {NAME} ended {STATE} at {{{{ event.occurred }}}}:\n{MESSAGE}",
    ),
    Notice(
        name="memo: task failed",
        description="A MEMO task's run ended Failed, Crashed or TimedOut (memo-taskrunner notifications).",
        events=tuple(f"prefect.task-run.{s}" for s in FAILED_STATES),
        match={"prefect.resource.id": "prefect.task-run.*"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": ["memo-nightly", "memo-task"]},
        subject="MEMO: task " + NAME + " " + STATE,
        body=(f"MEMO task {NAME} ended {STATE} at {{{{ event.occurred }}}} "
              f"(flow run {FLOW_RUN}):\n{MESSAGE}"),
    ),
    Notice(
        name="memo: HTTP task failed",
        description="A MEMO task run asked for over HTTP ended Failed (memo-taskrunner notifications).",
        events=tuple(f"prefect.flow-run.{s}" for s in FAILED_STATES),
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=[{"prefect.resource.role": "flow", "prefect.resource.name": "memo-task"},
                       {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.memo-http"}],
        subject="MEMO: task " + NAME + " " + STATE,
        body=(f"MEMO task {NAME} ended {STATE} at {{{{ event.occurred }}}} "
              f"(asked for over HTTP):\n{MESSAGE}"),
    ),
    Notice(
        name="memo: export shrank",
        description=("An export shrank below MEMO_SHRINK_WARN times the one it replaced "
                     "(memo-taskrunner notifications)."),
        events=(SHRANK_EVENT,),
        match={"prefect.resource.id": "memo.task.*"},
        match_related={},
        subject="MEMO: export " + NAME + " shrank",
        body=(f"MEMO task {NAME} at {{{{ event.occurred }}}} (flow run {FLOW_RUN}): "
              "{{ event.payload.warning" + PLAIN + " }}"),
    ),
)


def automation_of(notice: Notice, block_document_id):
    """The Prefect automation of one notice: one message per matching event."""
    from prefect.automations import (
        AutomationCore,
        EventTrigger,
        Posture,
        SendNotification,
    )

    return AutomationCore(
        name=notice.name, description=notice.description, enabled=True,
        trigger=EventTrigger(expect=set(notice.events), match=notice.match, match_related=notice.match_related,
                             for_each={"prefect.resource.id"}, posture=Posture.Reactive, threshold=1, within=0),
        actions=[SendNotification(block_document_id=block_document_id, subject=notice.subject, body=notice.body)],
    )


def notification_block(client, block: str):
    """The block document ``block`` names: ``<block-type-slug>/<name>``, or a name only one block has."""
    from prefect.exceptions import ObjectNotFound

    slug, _, name = block.rpartition("/")
    if slug:
        try:
            document = client.read_block_document_by_name(name=name, block_type_slug=slug, include_secrets=False)
        except ObjectNotFound:
            raise ConfigError(f"no Prefect block {block!r} (prefect block ls lists them)") from None
    else:
        found = [d for d in client.read_block_documents(include_secrets=False) if d.name == name]
        if len(found) != 1:
            kinds = ", ".join(f"{d.block_type.slug}/{d.name}" for d in found if d.block_type)
            raise ConfigError(f"no Prefect block named {name!r} (prefect block ls lists them)" if not found
                              else f"{len(found)} Prefect blocks are named {name!r}: say which ({kinds})")
        document = found[0]
    capabilities = document.block_schema.capabilities if document.block_schema else []
    if "notify" not in capabilities:
        raise ConfigError(f"Prefect block {block!r} cannot send notifications (a {document.block_type_name} block; "
                          "use e.g. Email, Slack Webhook or Custom Webhook)")
    return document


def install_notifications(block: str) -> list[tuple[str, str]]:
    """Create or update the automations (by name) to send to ``block``; (name, "created"/"updated").

    Args:
        block: the Prefect notification block: ``<block-type-slug>/<name>``, or a name only one
            block has.

    Returns:
        One ``(automation name, "created" or "updated")`` per notice, in ``NOTICES``' order.

    Raises:
        ConfigError: no such block, several blocks of that name, or one that cannot notify.
        MemoError: the Prefect API refused a request or cannot be reached.
    """
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        with get_client(sync_client=True) as client:
            document = notification_block(client, block)
            done = []
            for notice in NOTICES:
                automation = automation_of(notice, document.id)
                existing = client.read_automations_by_name(notice.name)
                if existing:
                    client.update_automation(existing[0].id, automation)
                    for extra in existing[1:]:  # made by hand, or by a racing second command
                        client.delete_automation(extra.id)
                else:
                    client.create_automation(automation)
                done.append((notice.name, "updated" if existing else "created"))
            return done
    except PrefectHTTPStatusError as exc:
        raise MemoError(f"the Prefect API refused: {exc.response.status_code} {exc.response.text[:300]}") from None
    except httpx.HTTPError as exc:
        raise MemoError(f"cannot reach the Prefect API: {exc}") from None
