"""Values ``prefect.yaml`` needs from the runner's settings (a custom deployment build step).

``prefect deploy --all`` runs ``flows.deployment.deployment_values`` first; its
output fills the templates: the nightly cron comes from ``MEMO_SCHEDULE_CRON``
(or the old ``taskrunner.cronschedule`` via ``MEMO_CONFIG``), a 6-field Spring
cron converted to 5 fields; the timezone from ``MEMO_TIMEZONE``; the working
directory the worker starts flow runs in is this checkout.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def deployment_values(**_ignored) -> dict[str, str]:
    from memo.settings import load_settings

    settings = load_settings()
    return {
        "cron": settings.schedule_cron,
        "timezone": settings.timezone,
        "directory": str(ROOT),
    }
