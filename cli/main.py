"""``memo-taskrunner``: the command line. Prefect is imported only by the commands that need it.

    due [--date D] [--json]     which tasks run on a night
    run-task ID [--dry-run]     run one task now; last line is MEMO's TaskResult JSON
    nightly [--date D]          the nightly Prefect flow, now (backfills a missed night)
    serve                       the HTTP API for MEMO Manager + the Prefect deployments
    guard PATH... [--json]      check scripts with the Code Guard
    guard --database [--json]   every stored script against the policy (before the switch-over)
    demo                        an embedded MEMO database of samples, run end to end
    doctor                      check database, folders, sandbox and image
    config [--table]            the effective settings
    history ID [--json]         a task's export and the versions kept of it
    rollback ID [--version V]   put a kept version back as the export (runlog row)
    setup-secrets [--dir DIR]   the Prefect auth string and the HTTP token, into a root-only file
    notifications --block B     Prefect automations: failed night/task, shrunk export -> block B
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys

from memo.errors import ConfigError, MemoError


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date as YYYY-MM-DD: {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memo-taskrunner", description="OAPEN MEMO task runner")
    parser.add_argument("--config", metavar="FILE", help="old runner's application.properties (or MEMO_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    due = sub.add_parser("due", help="list the tasks due on a date")
    due.add_argument("--date", type=_date, help="YYYY-MM-DD (default: today in MEMO_TIMEZONE)")
    due.add_argument("--json", action="store_true", help="print a JSON array")

    run = sub.add_parser("run-task", help="run one task now")
    run.add_argument("task_id")
    run.add_argument("--dry-run", action="store_true", help="write to <exports>/tmp, no runlog row")

    nightly = sub.add_parser("nightly", help="run the nightly flow now")
    nightly.add_argument("--date", type=_date, help="the night to run (default: today)")

    sub.add_parser("serve", help="HTTP API for MEMO Manager and the Prefect deployments")

    guard = sub.add_parser("guard", help="check scripts with the Code Guard", add_help=False)
    guard.add_argument("args", nargs=argparse.REMAINDER)

    demo = sub.add_parser("demo", help="embedded demo: sample MEMO database, run end to end")
    demo.add_argument("--dir", default="var/demo", help="where the demo database and exports go")
    demo.add_argument("--sandbox", choices=["auto", "docker", "process"], default="auto")
    demo.add_argument("--date", type=_date, help="the night to run (default: today)")

    sub.add_parser("doctor", help="check database, folders, sandbox and image")

    config = sub.add_parser("config", help="print the effective settings")
    config.add_argument("--table", action="store_true", help="markdown table of all settings")

    history = sub.add_parser("history", help="a task's current export and the versions kept of it")
    history.add_argument("task_id")
    history.add_argument("--json", action="store_true", help="a JSON array, newest first")

    rollback = sub.add_parser("rollback", help="put a kept version of a task's export back")
    rollback.add_argument("task_id")
    rollback.add_argument("--version", help="a version `history` lists (default: the newest kept)")

    secrets = sub.add_parser("setup-secrets", help="generate the Prefect auth string and the HTTP token "
                             "into a root-only env file (never replaces a value)")
    secrets.add_argument("--dir", help="folder of secrets.env (default /etc/memo-taskrunner)")

    notifications = sub.add_parser("notifications", help="create or update the Prefect automations that "
                                   "notify a failed night, a failed task and a shrunk export")
    notifications.add_argument("--block", required=True, metavar="BLOCK",
                               help="the notification block: <block-type-slug>/<name> or its name")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The guard must start in milliseconds: hand over before anything else is imported.
    if argv[:1] == ["guard"]:
        return cmd_guard(None, argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "docker", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    demo_env = {}
    if args.command == "demo":  # its Prefect state under its folder, unless the operator names theirs
        from pathlib import Path

        from flows.prefect_settings import keep_prefect_state_in

        home = Path(args.dir).resolve() / "prefect"
        demo_env = {"PREFECT_HOME": str(home)} if keep_prefect_state_in(home) else {}
    if args.command in ("nightly", "serve", "demo"):
        from flows.prefect_settings import prefect_environment

        prefect_environment(temporary_server_auth=args.command != "serve")
    try:
        if args.command == "setup-secrets":
            return cmd_setup_secrets(args)
        if args.command == "demo":
            from cli.demo.run import run_demo

            return run_demo(args.dir, sandbox=args.sandbox, on=args.date, extra_env=demo_env)
        from memo.settings import load_settings

        settings = load_settings(args.config)
        return COMMANDS[args.command](settings, args)
    except ConfigError as exc:
        print(f"memo-taskrunner: configuration error: {exc.message}", file=sys.stderr)
        if args.command == "run-task":  # MEMO's TaskResult is run-task's last line on every path
            from memo.models import RunOutcome

            failed = RunOutcome(args.task_id, False, f"configuration error: {exc.message}",
                                dt.datetime.now().astimezone(), kind=exc.kind, dry_run=args.dry_run)
            print(json.dumps(failed.task_result()))
        return 2
    except MemoError as exc:
        print(f"memo-taskrunner: {exc.message}", file=sys.stderr)
        return 1


def cmd_due(settings, args) -> int:
    from memo.database import MemoDatabase
    from memo.selection import select_due_tasks

    on = args.date or settings.today()
    selection = select_due_tasks(MemoDatabase(settings.database_url).candidate_tasks(on), on)
    for task, problem in selection.malformed:
        print(f"warning: task {task.id} ({task.label}) skipped: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([
            {"id": t.id, "username": t.username, "file_name": t.file_name,
             "frequency": t.frequency, "start_date": t.start_date.isoformat()}
            for t in selection.due
        ], indent=2))
    else:
        for t in selection.due:
            print(f"{t.id}  {t.frequency}  {t.start_date}  {t.label}")
        print(f"{len(selection.due)} task(s) due on {on}", file=sys.stderr)
    return 0


def cmd_run_task(settings, args) -> int:
    """One run; MEMO's TaskResult is the last stdout line on every path, a failure to set up
    or to write the runlog row included."""
    from memo.models import RunOutcome
    from memo.runner import Runner, now_local

    try:
        runner = Runner(settings)
        runner.remove_orphans()
        outcome = runner.run_task(args.task_id, dry_run=args.dry_run)
    except MemoError as exc:
        print(f"memo-taskrunner: {exc.message}", file=sys.stderr)
        outcome = RunOutcome(args.task_id, False, exc.message, now_local(settings), kind=exc.kind,
                             dry_run=args.dry_run)
    print(json.dumps(outcome.task_result()))
    return 0 if outcome.success else 2 if outcome.kind == ConfigError.kind else 1


def cmd_nightly(settings, args) -> int:
    from flows.nightly import run_nightly_now

    return run_nightly_now(settings, args.date)


def cmd_serve(settings, args) -> int:
    from api.serve import serve

    return serve(settings)


def cmd_guard(settings, args) -> int:
    """The guard on files, or (``--database``) on every stored script. The policy file is the
    ``guard_policy`` setting unless ``--policy`` names one; the settings are read only when
    needed (``memo.settings`` costs ≈ 0.2 s of imports on a command that starts in 0.25 s)."""
    from guard.cli import main as guard_main

    argv = list(args.args) if isinstance(args, argparse.Namespace) else list(args)
    if "--database" in argv:  # the switch-over review: every stored script against the policy
        from memo.policy_review import run_review
        from memo.settings import load_settings

        extra = [a for a in argv if a not in ("--database", "--json")]
        if extra:
            print(f"memo-taskrunner guard --database [--json]: unexpected {' '.join(extra)}", file=sys.stderr)
            return 2
        try:
            settings = settings or load_settings()
        except ConfigError as exc:
            print(f"memo-taskrunner: configuration error: {exc.message}", file=sys.stderr)
            return 2
        return run_review(settings, as_json="--json" in argv)
    if "--policy" not in argv and not any(a.startswith("--policy=") for a in argv) and not _asks_for_help(argv):
        from memo.settings import load_settings

        try:
            policy = (settings or load_settings()).guard_policy
        except ConfigError as exc:
            print(f"memo-taskrunner: configuration error: {exc.message}", file=sys.stderr)
            return 2
        if policy:
            argv = ["--policy", str(policy), *argv]
    return guard_main(argv)


def _asks_for_help(argv: list[str]) -> bool:
    return "-h" in argv or "--help" in argv


def cmd_doctor(settings, args) -> int:
    from flows.prefect_settings import configured_api
    from memo.doctor import run_doctor

    return run_doctor(settings, prefect_api=configured_api())


def cmd_notifications(settings, args) -> int:
    """The automations live on the Prefect server: a temporary in-process one would vanish with this command."""
    from flows.prefect_settings import configured_api

    url, _ = configured_api()
    if not url:
        print("memo-taskrunner notifications: no Prefect server configured: set PREFECT_API_URL (and "
              "PREFECT_API_AUTH_STRING) to the server the nights report to", file=sys.stderr)
        return 2
    from flows.notifications import install_notifications

    for name, done in install_notifications(args.block):
        print(f"{done:<8} automation {name!r} -> {args.block}")
    return 0


def cmd_setup_secrets(args) -> int:
    """Needs no settings: it runs before there are any, as root, once per host."""
    from memo.secrets_file import DEFAULT_DIR, ensure_secrets_file

    folder = args.dir or DEFAULT_DIR
    try:
        report = ensure_secrets_file(folder)
    except OSError as exc:
        print(f"memo-taskrunner: cannot write {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


def cmd_config(settings, args) -> int:
    """The settings in force and where each came from (memo.settings), secrets hidden."""
    from memo.settings import settings_notes, settings_table, shown_settings, timezone_source

    if not args.table:
        data = shown_settings(settings)
        data["timezone_source"] = timezone_source(settings)
        print(json.dumps(data, indent=2))
        return 0
    print("| variable | value | source | default | meaning |\n|---|---|---|---|---|")
    for variable, value, source, default, meaning in settings_table(settings):
        cells = [f"`{variable}`", f"`{value}`", source, f"`{default}`", meaning]
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    print("\n" + "\n".join(settings_notes(settings)))
    return 0


def cmd_history(settings, args) -> int:
    from memo.rollback import task_history

    versions = task_history(settings, args.task_id)
    if args.json:
        print(json.dumps([v.as_json() for v in versions], indent=2))
        return 0
    if not versions:
        print(f"task {args.task_id}: no export yet", file=sys.stderr)
    for v in versions:
        print(f"{v.version:<20} {v.date.astimezone(settings.zone):%Y-%m-%d %H:%M:%S %Z}  {v.bytes:>14,} bytes"
              f"  {'current' if v.current else 'kept'}")
    return 0


def cmd_rollback(settings, args) -> int:
    from memo.rollback import roll_back

    outcome = roll_back(settings, args.task_id, args.version)
    print(f"{outcome.label}: {outcome.message}")
    return 0


COMMANDS = {
    "due": cmd_due,
    "run-task": cmd_run_task,
    "nightly": cmd_nightly,
    "serve": cmd_serve,
    "doctor": cmd_doctor,
    "guard": cmd_guard,
    "config": cmd_config,
    "history": cmd_history,
    "rollback": cmd_rollback,
    "notifications": cmd_notifications,
}

if __name__ == "__main__":
    sys.exit(main())
