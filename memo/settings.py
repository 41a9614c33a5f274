"""Every setting of the runner, in one typed place.

Each field is read from ``MEMO_<NAME>`` (container settings from
``MEMO_CONTAINER_<NAME>``). An operator switching from the Java runner can also
point ``--config`` / ``MEMO_CONFIG`` at the old Spring ``application.properties``.
Precedence: an explicit argument, then the environment, then the Spring file, then the
default; each value remembers which it came from (``Settings.source_of``, for ``config``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from memo.errors import ConfigError
from memo.sandbox.base import STDERR_TAIL
from memo.sandbox.egress import (
    FORBIDDEN_ENV_PREFIXES,
    format_allow_list,
    forbidden_environment,
    parse_allow_list,
)

if TYPE_CHECKING:
    from memo.exports import ExportRules


def docker_size(value: str) -> str:
    """A size as the Docker API takes it (``512m``, ``2g``)."""
    if not re.fullmatch(r"\d+[bkmg]?", value.strip().lower()):
        raise ValueError("must be a size like 512m or 2g")
    return value.strip().lower()


def non_root_user(value: str) -> str:
    """A container user that is not root: scripts never run as uid 0."""
    if value.split(":")[0] in ("0", "root"):
        raise ValueError("scripts must not run as root")
    return value


DockerSize = Annotated[str, AfterValidator(docker_size)]
NonRootUser = Annotated[str, AfterValidator(non_root_user)]
SECRET = {"secret": True}
"""``json_schema_extra`` of a field whose value ``config`` never prints (``shown_value``)."""

_SPRING_VALUES: ContextVar[dict[str, object]] = ContextVar("spring_values", default={})
"""The values of the Spring file ``load_settings`` is reading; none outside it."""


class _SpringFileSource(PydanticBaseSettingsSource):
    """The old runner's ``application.properties``, below the environment."""

    def get_field_value(self, field, field_name):
        return _SPRING_VALUES.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, object]:
        return dict(_SPRING_VALUES.get())


class SourcedSettings(BaseSettings):
    """Settings that remember where each value came from: ``explicit`` (an argument),
    ``environment``, ``spring file`` or ``default``.

    Args:
        **values: fields given explicitly, over the environment (and, for ``Settings``, the
            Spring file being read); each one's source is ``explicit``.

    Raises:
        pydantic.ValidationError: a value, given or read, is invalid (``load_settings`` turns it
            into a ``ConfigError`` naming the variable).
    """

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    def __init__(self, **values):
        super().__init__(**values)
        from_env = EnvSettingsSource(type(self))()
        from_file = _SPRING_VALUES.get() if isinstance(self, Settings) else {}
        self._sources = {
            name: "explicit" if name in values else "environment" if name in from_env
            else "spring file" if name in from_file else "default"
            for name in type(self).model_fields
        }

    def source_of(self, name: str) -> str:
        """Where the value of field ``name`` came from (``container.memory`` for a container
        setting); ``explicit`` for a copy changed after it was built (a Prefect block)."""
        head, _, rest = name.partition(".")
        if rest:
            return getattr(self, head).source_of(rest)
        return self._sources.get(name, "explicit")


class ContainerSettings(SourcedSettings):
    """How the docker sandbox shapes each script's container (``MEMO_CONTAINER_*``).

    The defaults are MEMO's, locked down: no network but loopback (``none``), on which
    the endpoints of ``allow`` (the library database on the host) are relayed in.
    """

    model_config = SettingsConfigDict(env_prefix="MEMO_CONTAINER_", extra="ignore")

    network: str = Field(
        "none", description="`none`: scripts reach only MEMO_CONTAINER_ALLOW; `host`, `bridge` or a "
        "named network: whatever that network reaches (the allow-list does not apply)"
    )
    allow: str = Field(
        "127.0.0.1:3306", description="with network `none`: the only endpoints scripts reach, "
        "comma-separated host:port (loopback addresses or host names; empty: none)"
    )
    max_connections: int = Field(
        16, ge=1, le=1024, description="most connections a script has open at once through the allow-list"
    )
    memory: DockerSize = Field("1g", description="memory limit (docker units: 512m, 2g)")
    cpus: float = Field(1.0, gt=0, description="CPU limit in cores")
    pids_limit: int = Field(256, gt=0, description="most processes/threads at once")
    user: NonRootUser = Field("65534:65534", description="uid:gid the script runs as (non-root)")
    tmpfs_size: DockerSize = Field("64m", description="size of the writable /tmp")
    read_only: bool = Field(True, description="read-only root filesystem")
    environment: dict[str, str] = Field(
        default_factory=dict, description="extra environment for scripts (JSON), e.g. a DB host; "
        "MEMO_*, PREFECT_* and DOCKER_* names are refused (the runner's own)", json_schema_extra=SECRET
    )
    scripts_mount: str = Field("/scripts", description="where the tree is mounted, read-only")
    docker_host: str | None = Field(
        None, description="Docker API endpoint; default DOCKER_HOST, then the local socket"
    )
    docker_timeout: float | None = Field(
        None, gt=0, description="seconds an ordinary Docker API call may take (not a script's run: "
        "task_timeout); unset: 60"
    )
    label_prefix: str = Field("org.oapen.memo", description="prefix of the containers' labels")
    output: Literal["attach", "file"] = Field(
        "attach",
        description="how stdout leaves the container: `attach` (stream, no writable mount) "
        "or `file` (a bind-mounted file, ~5x faster for outputs of hundreds of MB)",
    )

    @field_validator("allow")
    @classmethod
    def _allow_list(cls, v: str) -> str:
        return format_allow_list(parse_allow_list(v))

    @field_validator("environment")
    @classmethod
    def _no_runner_settings(cls, v: dict[str, str]) -> dict[str, str]:
        refused = forbidden_environment(v)
        if refused:
            raise ValueError(
                f"{', '.join(refused)}: variables named {', '.join(p + '*' for p in FORBIDDEN_ENV_PREFIXES)} "
                "are the runner's own settings and secrets and never enter a container; name them otherwise"
            )
        return v


class Settings(SourcedSettings):
    """The runner's settings (``MEMO_*``)."""

    model_config = SettingsConfigDict(env_prefix="MEMO_", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        "sqlite:///var/memo.sqlite", description="SQLAlchemy URL of oapen_memo", json_schema_extra=SECRET)
    exports_dir: Path = Field(Path("var/exports"), description="where clients' export folders are")
    work_dir: Path = Field(Path("var/work"), description="root of the temporary script trees")
    purge_work_dir: bool = Field(True, description="remove each script tree after its run")
    sandbox: Literal["docker", "process"] = Field("docker", description="how scripts run")
    docker_image: str = Field(
        "oapen/ubuntu2204python310", description="image scripts run in; needs only python3"
    )
    task_timeout: float = Field(3600, gt=0, description="seconds a script may run")
    concurrency: int = Field(2, ge=1, le=64, description="tasks run at once")
    schedule_cron: str = Field("0 2 * * *", description="nightly schedule, 5 or 6 (Spring) fields")
    timezone: str | None = Field(
        None, validate_default=True,
        description=("zone of the schedule, the busy window and runlog dates (default: the host's: "
                     "TZ, then /etc/localtime, as the Java runner's JVM)"),
    )
    catch_up: Literal["once", "skip"] = Field(
        "once", description="run a night missed while down (once) or not (skip)"
    )
    busy_start: str = Field("02:00", description="start of the busy window, HH:MM")
    busy_hours: float = Field(4, ge=0, le=24, description="length of the busy window in hours")
    http_host: str = Field("127.0.0.1", description="address of the HTTP API")
    http_port: int = Field(8085, ge=1, le=65535, description="port of the HTTP API")
    http_token: str | None = Field(
        None, description="bearer token the HTTP API requires, if set (production: `setup-secrets` makes one)",
        json_schema_extra=SECRET)
    http_via: Literal["prefect", "direct"] = Field(
        "prefect", description="HTTP runs recorded as memo-task flow runs (prefect) or plain runner calls (direct)"
    )
    prefect_serve: Literal["auto", "yes", "no"] = Field(
        "auto", description="`serve` also serves the Prefect deployments (auto: unless a work pool has them)"
    )
    guard_policy: Path | None = Field(None, description="JSON file extending the guard's policy")
    stderr_tail: int = Field(STDERR_TAIL, ge=100, description="characters of stderr kept in the runlog")
    validate_exports: str = Field(
        "xml,rss,json", description="export extensions whose output must be well-formed before it "
        "replaces the export (xml, rss, atom: XML; json), comma-separated; `off`: none")
    empty_export: Literal["fail", "write"] = Field(
        "fail", description="an empty output where the export is not empty: `fail` (previous kept) or `write`")
    export_history: int = Field(
        3, ge=0, le=1000, description="replaced exports kept per task in <exports>/.history/ (0: none)")
    shrink_warn: float = Field(
        0.5, ge=0, le=1, description="warn when an export is smaller than this times the one it replaced (0: never)")
    container: ContainerSettings = Field(default_factory=ContainerSettings)
    _spring_file: str = PrivateAttr("")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ):
        # An explicit argument beats the environment, which beats the Spring file.
        return init_settings, env_settings, _SpringFileSource(settings_cls)

    @field_validator("validate_exports")
    @classmethod
    def _known_checks(cls, v: str) -> str:
        from memo.export_checks import parse_extensions

        return ",".join(sorted(parse_extensions(v))) or "off"

    @property
    def export_rules(self) -> ExportRules:
        """The rules an output meets before it replaces an export (``memo.exports``)."""
        from memo.export_checks import parse_extensions
        from memo.exports import ExportRules

        return ExportRules(parse_extensions(self.validate_exports), self.empty_export,
                           self.export_history, self.shrink_warn)

    @field_validator("busy_start")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        try:
            dt.datetime.strptime(v.strip(), "%H:%M")
        except ValueError:
            raise ValueError("must be a time as HH:MM") from None
        return v.strip()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str:
        if v is None or not v.strip():
            return host_timezone()[0]
        try:
            ZoneInfo(v.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v.strip()

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        return cron_to_five_fields(v)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self) -> dt.date:
        """Today's date in the configured zone: the night a run without ``--date`` is for.

        Returns:
            The local date now, in ``zone``.
        """
        return dt.datetime.now(self.zone).date()


def host_timezone() -> tuple[str, str]:
    """The host's time zone and where it was found: ``TZ``, then /etc/localtime, then
    /etc/timezone, as the JVM (and so the Java runner's busy window, cron and runlog
    dates) finds it; ``UTC`` when the host names none."""
    tz = os.environ.get("TZ", "").strip().lstrip(":")
    for key, source in ((tz, "TZ"), (_zone_of_link("/etc/localtime"), "/etc/localtime"),
                        (_first_line("/etc/timezone"), "/etc/timezone")):
        if key and "zoneinfo/" in key:
            key = key.split("zoneinfo/", 1)[1]  # TZ=/usr/share/zoneinfo/Europe/Amsterdam
        if key and not key.startswith("/"):
            try:
                ZoneInfo(key)
                return key, source
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "UTC", "default (the host names no zone)"


def _zone_of_link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _first_line(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def timezone_source(settings: "Settings") -> str:
    """Why ``settings.timezone`` is what it is, for ``config``.

    Args:
        settings: the settings in force.

    Returns:
        ``MEMO_TIMEZONE``, ``the host's (<where it was found>)`` or ``set explicitly``.
    """
    source = settings.source_of("timezone")
    if source == "environment":
        return "MEMO_TIMEZONE"
    key, found_in = host_timezone()
    return f"the host's ({found_in})" if source == "default" and key == settings.timezone else "set explicitly"


def cron_to_five_fields(expression: str) -> str:
    """Accept a 5-field cron or Spring's 6 fields (seconds first) and return 5 fields."""
    fields = expression.split()
    if len(fields) == 6:
        if fields[0] not in ("0", "*"):
            raise ValueError("the seconds field of a Spring cron must be 0")
        fields = fields[1:]
    if len(fields) != 5:
        raise ValueError(f"a cron needs 5 fields (or Spring's 6), got {len(fields)}")
    fields = ["*" if f == "?" else f for f in fields]
    return " ".join(fields)


SPRING_KEYS = {
    "server.port": "http_port",
    "docker.image.python": "docker_image",
    "path.temp.pythonscripts": "work_dir",
    "path.temp.pythonscripts.purge": "purge_work_dir",
    "path.exports": "exports_dir",
    "taskrunner.cronschedule": "schedule_cron",
    "taskRunner.busy.starttime": "busy_start",
    "taskRunner.busy.hours": "busy_hours",
}


def read_spring_properties(text: str) -> dict[str, str]:
    """Parse a Java ``.properties`` file: ``key=value`` or ``key: value``, ``#``/``!`` comments."""
    values: dict[str, str] = {}
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def jdbc_to_sqlalchemy(jdbc_url: str, username: str | None, password: str | None) -> str:
    """``jdbc:mysql://host:3306/oapen_memo?x=y`` + credentials → a pymysql SQLAlchemy URL."""
    if not jdbc_url.startswith("jdbc:"):
        return jdbc_url
    parts = urlsplit(jdbc_url[len("jdbc:") :])
    if parts.scheme not in ("mysql", "mariadb"):
        raise ValueError(f"unsupported JDBC database {parts.scheme!r} (only mysql/mariadb)")
    user = parts.username or username or ""
    pw = parts.password or password or ""
    auth = quote(user, safe="") + (":" + quote(pw, safe="") if pw else "")
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    # MEMO's tables are utf8mb4; JDBC's own query parameters mean nothing to pymysql.
    return f"mysql+pymysql://{auth}@{host}{port}{parts.path}?charset=utf8mb4"


def settings_from_spring(text: str) -> dict[str, object]:
    props = read_spring_properties(text)
    lowered = {k.lower(): v for k, v in props.items()}
    values: dict[str, object] = {}
    for key, name in SPRING_KEYS.items():
        if key.lower() in lowered:
            values[name] = lowered[key.lower()]
    if "spring.datasource.url" in lowered:
        values["database_url"] = jdbc_to_sqlalchemy(
            lowered["spring.datasource.url"],
            lowered.get("spring.datasource.username"),
            lowered.get("spring.datasource.password"),
        )
    return values


def load_settings(config_file: str | os.PathLike | None = None) -> Settings:
    """Build the settings from the environment over an optional Spring properties file.

    Any invalid value raises ``ConfigError`` naming the setting and its variable.

    Args:
        config_file: the old runner's ``application.properties``; ``None``: ``MEMO_CONFIG``'s,
            if set. The environment wins over it.

    Returns:
        The settings, each value remembering its source.

    Raises:
        ConfigError: the file cannot be read or its ``spring.datasource.url`` is not one the
            runner reads, or a setting is invalid.
    """
    named_by = "--config" if config_file else "MEMO_CONFIG"
    config_file = config_file or os.environ.get("MEMO_CONFIG")
    file_values: dict[str, object] = {}
    if config_file:
        path = Path(config_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        try:
            file_values = settings_from_spring(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: spring.datasource.url: {exc}") from None
    try:
        container = ContainerSettings()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "MEMO_CONTAINER_")) from None
    reading = _SPRING_VALUES.set(file_values)
    try:
        settings = Settings(container=container)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    finally:
        _SPRING_VALUES.reset(reading)
    if config_file:
        settings._spring_file = f"{config_file} ({named_by})"
    return settings


def describe_validation_error(exc: ValidationError, prefix: str = "MEMO_") -> str:
    """A settings model's validation error as the operator fixes it: each invalid value by its
    variable (and Spring key), with what was given; an ``environment`` dict by its keys only,
    its values may be secrets.

    Args:
        exc: pydantic's error, from building ``Settings`` or ``ContainerSettings``.
        prefix: the model's variable prefix (``MEMO_``, or ``MEMO_CONTAINER_``); an error inside
            ``Settings.container`` is named ``MEMO_CONTAINER_*`` either way.

    Returns:
        ``invalid setting <VARIABLE>: <why> (got <value>)``, several joined by ``"; "``.
    """
    problems = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        if loc and loc[0] == "container" and len(loc) > 1:
            var = "MEMO_CONTAINER_" + loc[1].upper()
        else:
            var = prefix + (loc[0].upper() if loc else "?")
        spring = {v: k for k, v in SPRING_KEYS.items()}.get(loc[0] if loc else "")
        where = f"{var}" + (f" (or {spring})" if spring else "")
        got = error.get("input")
        if loc and loc[-1] == "environment" and isinstance(got, dict):
            got = f"keys {sorted(got)}"  # the values may be secrets: never in an error message
        else:
            got = repr(got)
        problems.append(f"invalid setting {where}: {error['msg']} (got {got})")
    return "; ".join(problems)


def hide_password(url: str) -> str:
    """A database URL as ``config`` prints it: the password, and any query value that
    names a password or token, as ``***``."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: no error may carry its password
        return "***"
    hidden = {k: "***" for k in parsed.query if re.search(r"pass|pwd|secret|token", k, re.I)}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


def shown_value(model: BaseSettings, name: str) -> object:
    """The value of field ``name`` as ``config`` prints it: a secret field (``SECRET``)
    hidden; a URL keeps its host and database, a dict its keys."""
    value = getattr(model, name)
    if not (type(model).model_fields[name].json_schema_extra or {}).get("secret") or not value:
        return value
    if isinstance(value, dict):
        return {key: "***" for key in value}
    return hide_password(value) if name.endswith("_url") else "***"


def shown_settings(settings: Settings) -> dict[str, object]:
    """Every setting in force as JSON values, secrets hidden, with ``sources``: where each came from.

    Args:
        settings: the settings in force.

    Returns:
        ``settings.model_dump(mode="json")`` with secret fields hidden, plus ``"sources"``:
        ``{field or "container.<field>": source}``.
    """
    data = settings.model_dump(mode="json")
    sources = {}
    for prefix, model, values in (("", settings, data), ("container.", settings.container, data["container"])):
        for name, field in type(model).model_fields.items():
            if name == "container":
                continue
            if (field.json_schema_extra or {}).get("secret"):
                values[name] = shown_value(model, name)
            sources[prefix + name] = model.source_of(name)
    data["sources"] = sources
    return data


def settings_table(settings: Settings) -> list[tuple[str, str, str, str, str]]:
    """Rows of (variable, value in force, source, default, meaning), secrets hidden.

    Args:
        settings: the settings in force.

    Returns:
        One row of five strings per setting, ``MEMO_*`` then ``MEMO_CONTAINER_*``: the value
        and the default as ``config --table`` prints them.
    """
    spring = {v: k for k, v in SPRING_KEYS.items()}
    spring["database_url"] = "spring.datasource.url/.username/.password"
    rows = []
    for prefix, model in (("MEMO_", settings), ("MEMO_CONTAINER_", settings.container)):
        for name, field in type(model).model_fields.items():
            if name == "container":
                continue
            default = field.default if field.default_factory is None else field.default_factory()
            source = model.source_of(name)
            if source == "spring file":
                source = f"spring file ({spring[name]})"
            elif source == "default" and name == "timezone":
                source = f"default (the host's: {host_timezone()[1]})"
            rows.append((prefix + name.upper(), _cell(shown_value(model, name)), source,
                         _cell(default), field.description or ""))
    return rows


def settings_notes(settings: Settings) -> list[str]:
    """What ``config --table`` says below the table: the Spring file read, and why a Prefect
    Block is never a source here.

    Args:
        settings: the settings in force.

    Returns:
        The lines, without newlines.
    """
    spring = settings._spring_file or "none (--config FILE or MEMO_CONFIG names one)"
    return [
        f"Spring file: {spring}",
        "Prefect Blocks (blocks/) are not a source here: a flow run given database_block or "
        "container_block loads them from its Prefect server, over these values, at run time.",
    ]


def _cell(value: object) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value) if isinstance(value, dict) else str(value)


class DemoSettings(BaseSettings):
    """The embedded demo's own setting (``MEMO_DEMO_*``; not the runner's, so not in the table)."""

    model_config = SettingsConfigDict(env_prefix="MEMO_DEMO_", extra="ignore")

    library_admin_url: str = Field(
        "", description="SQLAlchemy URL of a MySQL/MariaDB account that may create the demo's sample "
        "library database and its reader (empty: root@127.0.0.1:3306)"
    )
