"""`kube-watchcache serve` settings: one table drives the flags, the env vars and the config file.

Precedence is flag > env var > config file > default, per option, so a
Deployment can set most things in a ConfigMap file and override one with an
env var. Each option is declared once in `OPTIONS`; `--help`, the env var name
and the file key all come from that declaration, so they cannot drift apart.
Bearer tokens are never read from the config file (a ConfigMap is not a
Secret): only from `KUBE_WATCHCACHE_TOKENS` or `--token-file`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from kinds import DEFAULT_KINDS, STORED
from mcpserver.durations import parse_duration
from mcpserver.errors import ConfigError, InvalidArgument
from store import InvalidSelector, QuerySettings, parse_selector

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "OPTIONS",
    "TOKENS_ENV",
    "Option",
    "Settings",
    "add_serve_arguments",
    "resolve_settings",
]

ENV_PREFIX = "KUBE_WATCHCACHE_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
TOKENS_ENV = ENV_PREFIX + "TOKENS"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything `serve` needs, resolved and validated."""

    demo: bool = False
    transport: Literal["http", "stdio"] = "http"
    host: str = "127.0.0.1"
    port: int = 8080
    db: Path = Path("kube-watchcache.db")
    kubeconfig: Path | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = DEFAULT_KINDS
    label_selector: str | None = None
    token_file: Path | None = None
    tokens: tuple[str, ...] = ()  # from KUBE_WATCHCACHE_TOKENS only
    metrics_auth: Literal["open", "token"] = "open"
    metrics_mode: Literal["auto", "objects", "summary"] = "auto"
    metrics_objects_limit: int = 20_000
    metric_labels_allowlist: str = ""  # kube-state-metrics' format: pods=[app,team],nodes=[*]
    allowed_hosts: tuple[str, ...] = ()  # empty: localhost, 127.0.0.1, [::1] and the bind host
    allowed_origins: tuple[str, ...] = ()
    rate_limit: float = 0.0
    rate_limit_burst: int = 0  # 0: twice the rate, at least 1
    mcp_concurrency: int = 4  # 0: no admission limit
    mcp_queue: int = 64
    mcp_queue_wait: float = 10.0
    ingest_priority_lag: float = 0.25  # 0: no ingest priority
    header_read_timeout: float = 10.0  # a request's headers must arrive within this
    body_read_timeout: float = 10.0  # and its body within this after the headers
    webhook_url: str | None = None
    webhook_secret_file: Path | None = None
    leader_election: bool = False
    lease_name: str = "kube-watchcache"
    lease_namespace: str = "default"
    identity: str = dataclasses.field(default_factory=socket.gethostname)
    lease_duration: float = 15.0
    lease_renew_deadline: float = 10.0
    lease_retry_period: float = 2.0
    history_retention: float = 7 * 86400.0
    stale_after: float = 120.0
    reveal_env_values: bool = False
    query_connections: int = 3
    query_per_client: int = 2
    query_max_rows: int = 1000
    query_timeout: float = 10.0
    query_max_bytes: int = 1 << 20
    query_max_value_bytes: int = 256 << 10
    query_max_columns: int = 64
    query_cache_bytes: int = 8 << 20
    query_max_temp_bytes: int = 128 << 20
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    config: Path | None = None

    def query_settings(self) -> QuerySettings:
        """The store's bounds for the `query` tool, from the --query-* options."""
        return QuerySettings(
            connections=self.query_connections,
            per_caller=self.query_per_client,
            max_answer_bytes=self.query_max_bytes,
            max_value_bytes=self.query_max_value_bytes,
            max_columns=self.query_max_columns,
            cache_bytes=self.query_cache_bytes,
            max_temp_bytes=self.query_max_temp_bytes,
        )

    def effective_allowed_hosts(self) -> tuple[str, ...]:
        """The Host allow-list in force: as configured, else loopback names and the bind host."""
        if self.allowed_hosts:
            return self.allowed_hosts
        hosts = ["localhost", "127.0.0.1", "[::1]"]
        if self.host not in ("0.0.0.0", "::", "") and self.host not in hosts:
            hosts.append(f"[{self.host}]" if ":" in self.host else self.host)
        return tuple(hosts)


Parser = Callable[[str], Any]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Option:
    """One setting: its flag, env var, file key, parser and help text."""

    name: str  # the Settings field
    help: str
    parse: Parser = str
    env: str | None = None  # default: KUBE_WATCHCACHE_<NAME>
    flag: bool = True  # False: env (and file) only
    boolean: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    in_file: bool = True

    @property
    def env_name(self) -> str:
        return self.env or ENV_PREFIX + self.name.upper()

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _integer(text: str, *, allowed: str) -> int:
    """`text` as an int; `allowed` (e.g. "a whole number from 0 to 65535") when it is not one."""
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"must be {allowed}") from None


def _port(text: str) -> int:
    allowed = "a whole number from 0 to 65535 (0 picks a free port)"
    value = _integer(text, allowed=allowed)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be {allowed}")
    return value


def _rate(text: str) -> float:
    allowed = "must be a non-negative number of requests per second"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(allowed) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(allowed)
    return value


def _count(text: str) -> int:
    """A non-negative integer: a count, a size or a limit."""
    value = _integer(text, allowed="a non-negative integer")
    if value < 0:
        raise ValueError("must be a non-negative integer")
    return value


def _positive(text: str) -> int:
    value = _integer(text, allowed="a positive integer")
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


_SIZE = re.compile(r"\s*(\d+)\s*(|k|kib|m|mib|g|gib)\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20}
_SIZE_UNITS |= {"g": 1 << 30, "gib": 1 << 30}


def _size(text: str) -> int:
    """A size in bytes: 1048576, 256KiB, 1MiB, 1GiB (K, M, G are binary too); at least 1 KiB."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError("must be a size such as 1048576, 256KiB or 1MiB")
    value = int(match[1]) * _SIZE_UNITS[match[2].lower()]
    if value < 1024:
        raise ValueError("must be at least 1 KiB")
    return value


def _query_columns(text: str) -> int:
    value = _integer(text, allowed="a whole number from 32 to 2000")
    if not 32 <= value <= 2000:  # the store's widest table has 30 columns
        raise ValueError("must be between 32 and 2000")
    return value


def _query_timeout(text: str) -> float:
    value = _duration(text)
    if not 0 < value <= 60:
        raise ValueError("must be more than 0 and at most 60s")
    return value


# The stored kinds; replicasets come along with pods and deployments, unasked.
WATCHABLE_KINDS = tuple(spec.name for spec in STORED.values())


def _kinds(text: str) -> tuple[str, ...]:
    kinds = _csv(text)
    unknown = [k for k in kinds if k not in WATCHABLE_KINDS]
    if unknown or not kinds:
        raise ValueError(f"choose one or more of {','.join(WATCHABLE_KINDS)}")
    return tuple(dict.fromkeys(kinds))


def _label_selector(text: str) -> str:
    """Checked as the store parses selectors, so a typo fails at start, not as 400s in a loop."""
    try:
        parse_selector(text)
    except InvalidSelector as exc:
        raise ValueError(str(exc)) from None
    return text


# --metric-labels-allowlist: the resources it names (kube-state-metrics' spelling) -> kind.
LABELS_RESOURCES = {"pods": "pod", "deployments": "deployment", "nodes": "node"}
# resource -> the label keys (or `*` patterns) its `*_labels` family carries; a resource
# absent exports no `*_labels` series at all, as kube-state-metrics.
LabelsAllowlist = dict[str, tuple[str, ...]]
_ALLOW_ENTRY = re.compile(r"\s*([a-z*]+)\s*=\s*\[([^\]]*)\]\s*(?:,|$)")


def parse_labels_allowlist(text: str) -> LabelsAllowlist:
    """`pods=[app,team],deployments=[*]`, as kube-state-metrics' --metric-labels-allowlist.

    A `*` resource applies its list to every resource (and wins over the
    others), a `*` in a key matches any text. Raises ValueError naming what
    is wrong: an entry not of the form `resource=[k1,k2]`, or a resource
    whose families this exporter lacks.
    """
    out: LabelsAllowlist = {}
    text = text.strip()
    pos = 0
    while pos < len(text):
        m = _ALLOW_ENTRY.match(text, pos)
        if m is None:
            raise ValueError(
                f"cannot read {text[pos:]!r}: expected resource=[label,...], e.g. "
                "pods=[app,team],deployments=[*]"
            )
        if m.group(1) not in LABELS_RESOURCES and m.group(1) != "*":
            raise ValueError(
                f"unknown resource {m.group(1)!r}: expected one of {', '.join(LABELS_RESOURCES)} "
                "or *"
            )
        out[m.group(1)] = tuple(k.strip() for k in m.group(2).split(",") if k.strip())
        pos = m.end()
    if "*" in out:
        return dict.fromkeys(LABELS_RESOURCES, out["*"])
    return out


def _labels_allowlist(text: str) -> str:
    """Checked at start, as the renderer process will read it."""
    parse_labels_allowlist(text)
    return text.strip()


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return text


def _duration(text: str) -> float:
    if text.strip().startswith("-"):
        raise ValueError("must not be negative; use e.g. 30s, 15m, 1h30m or 7d")
    try:
        return parse_duration(text)
    except InvalidArgument as exc:
        raise ValueError(str(exc)) from None


def _deadline(text: str) -> float:
    value = _duration(text)
    if value <= 0:
        raise ValueError("must be a positive duration")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be one of true/false, yes/no, on/off, 1/0")


OPTIONS: tuple[Option, ...] = (
    Option(
        name="config",
        parse=Path,
        metavar="PATH",
        in_file=False,
        help="TOML file with any of these settings (keys are the flag names); "
        "flags and env vars override it",
    ),
    Option(
        name="demo",
        boolean=True,
        help="run against an embedded simulated cluster with churn (no cluster needed)",
    ),
    Option(
        name="transport",
        choices=("http", "stdio"),
        help="MCP transport: streamable HTTP at /mcp, or stdio (logs go to stderr) [http]",
    ),
    Option(name="host", metavar="ADDR", help="HTTP bind address; 0.0.0.0 in a pod [127.0.0.1]"),
    Option(
        name="port",
        parse=_port,
        metavar="N",
        help="HTTP port for /mcp /health /ready /metrics; 0 picks a free one [8080]",
    ),
    Option(name="db", parse=Path, metavar="PATH", help="SQLite state file [./kube-watchcache.db]"),
    Option(
        name="kubeconfig",
        parse=Path,
        env="KUBECONFIG",
        metavar="PATH",
        help="kubeconfig used when not in-cluster [~/.kube/config]",
    ),
    Option(name="context", metavar="NAME", help="kubeconfig context [current]"),
    Option(
        name="namespaces",
        parse=_csv,
        metavar="A,B",
        help="watch only these namespaces, for Role-limited installs [all]",
    ),
    Option(
        name="kinds",
        parse=_kinds,
        metavar="K1,K2",
        help=f"kinds to watch, of {','.join(WATCHABLE_KINDS)}; leave out nodes where Roles "
        f"cannot read them [{','.join(DEFAULT_KINDS)}]",
    ),
    Option(
        name="label_selector",
        parse=_label_selector,
        metavar="SEL",
        help="watch only objects matching this selector",
    ),
    Option(
        name="token_file",
        parse=Path,
        metavar="PATH",
        help="bearer tokens accepted on /mcp, one per line (also: env KUBE_WATCHCACHE_TOKENS, "
        "comma-separated); no tokens: /mcp is open",
    ),
    Option(
        name="tokens",
        parse=_csv,
        flag=False,
        in_file=False,
        help="comma-separated bearer tokens (env only)",
    ),
    Option(
        name="metrics_auth",
        choices=("open", "token"),
        help="whether /metrics needs a bearer token [open]",
    ),
    Option(
        name="metrics_mode",
        choices=("auto", "objects", "summary"),
        help="cluster gauges on /metrics: objects (kube-state-metrics names, one series per "
        "object), summary (bounded per-namespace/per-node aggregates), or auto: objects up to "
        "--metrics-objects-limit objects in the store; above, summary plus the kube-state-metrics "
        "families alerts need (deployments, statefulsets, nodes whole; pods only when not "
        "Running and Ready); back to objects after 15 min below 0.9 x the limit [auto]",
    ),
    Option(
        name="metrics_objects_limit",
        parse=_count,
        metavar="N",
        help="object count (pods+deployments+nodes) above which auto mode switches to summary "
        "[20000]",
    ),
    Option(
        name="metric_labels_allowlist",
        parse=_labels_allowlist,
        metavar="R=[L,..]",
        help="Kubernetes labels that kube_pod_labels, kube_deployment_labels and "
        "kube_node_labels carry as label_<key>, as kube-state-metrics' flag: "
        "pods=[app,team],deployments=[*] [none]",
    ),
    Option(
        name="allowed_hosts",
        parse=_csv,
        metavar="H1,H2",
        help="Host header allow-list against DNS rebinding; '*' allows any "
        "[localhost,127.0.0.1 + the bind host]",
    ),
    Option(
        name="allowed_origins",
        parse=_csv,
        metavar="O1,O2",
        help="Origin allow-list for browsers (CORS); '*' allows any [none]",
    ),
    Option(
        name="rate_limit",
        parse=_rate,
        metavar="N",
        help="per-client requests/s on /mcp (token bucket; 429 + Retry-After) [0 = off]",
    ),
    Option(
        name="rate_limit_burst",
        parse=_count,
        metavar="N",
        help="token bucket size [0 = twice the rate]",
    ),
    Option(
        name="mcp_concurrency",
        parse=_count,
        metavar="N",
        help="/mcp requests answered at once (tool calls share the event loop with ingest, "
        "so a few in flight already use a core); more wait in a queue [4; 0 = no limit]",
    ),
    Option(
        name="mcp_queue",
        parse=_count,
        metavar="N",
        help="/mcp requests that may wait for a slot; beyond them 503 + Retry-After [64]",
    ),
    Option(
        name="mcp_queue_wait",
        parse=_duration,
        metavar="DUR",
        help="how long a queued /mcp request waits for a slot before 503 + Retry-After [10s]",
    ),
    Option(
        name="ingest_priority_lag",
        parse=_duration,
        metavar="DUR",
        help="ingest priority: while the event loop runs this late (ingest falling behind), "
        "/mcp answers one request at a time and rests between them [250ms; 0 = off]",
    ),
    Option(
        name="header_read_timeout",
        parse=_deadline,
        metavar="DUR",
        help="a request's headers must arrive within this, else 408 and the connection is "
        "closed (slow senders) [10s]",
    ),
    Option(
        name="body_read_timeout",
        parse=_deadline,
        metavar="DUR",
        help="a request's body must arrive within this after its headers, else 408; a request "
        "takes an admission slot only once its body is in [10s]",
    ),
    Option(name="webhook_url", parse=_url, metavar="URL", help="POST each status transition here"),
    Option(
        name="webhook_secret_file",
        parse=Path,
        metavar="PATH",
        help="HMAC-SHA256 key for signing webhook bodies",
    ),
    Option(
        name="leader_election",
        boolean=True,
        help="fire webhooks only on the replica holding the Lease",
    ),
    Option(name="lease_name", metavar="NAME", help="Lease name [kube-watchcache]"),
    Option(
        name="lease_namespace", env="POD_NAMESPACE", metavar="NS", help="Lease namespace [default]"
    ),
    Option(
        name="identity",
        env="POD_NAME",
        metavar="ID",
        help="this replica's identity in the Lease [hostname]",
    ),
    Option(
        name="lease_duration",
        parse=_duration,
        metavar="DUR",
        help="how long followers wait after the last renewal before taking over; "
        "whole seconds [15s]",
    ),
    Option(
        name="lease_renew_deadline",
        parse=_duration,
        metavar="DUR",
        help="the leader steps down when it could not renew for this long; "
        "less than the lease duration [10s]",
    ),
    Option(
        name="lease_retry_period",
        parse=_duration,
        metavar="DUR",
        help="how often the leader renews and followers poll the Lease; at least 1s [2s]",
    ),
    Option(
        name="history_retention",
        parse=_duration,
        metavar="DUR",
        help="how long status transitions are kept, e.g. 7d, 12h [7d]",
    ),
    Option(
        name="stale_after",
        parse=_duration,
        metavar="DUR",
        help="how long a watch error is tolerated before /ready turns 503 (answers say "
        "stale at once) [2m]",
    ),
    Option(
        name="reveal_env_values",
        boolean=True,
        help="store and show literal env values of containers; by default they are "
        "redacted before anything is stored",
    ),
    Option(
        name="query_connections",
        parse=_positive,
        metavar="N",
        help="query tool: SQLite connections (and threads) running queries at once; other "
        "tools never wait for them [3]",
    ),
    Option(
        name="query_per_client",
        parse=_positive,
        metavar="N",
        help="query tool: queries one client (bearer token, else address) may have in "
        "progress, waiting included; one more is refused at once [2]",
    ),
    Option(
        name="query_max_rows",
        parse=_positive,
        metavar="N",
        help="query tool: the largest max_rows a call may ask for [1000]",
    ),
    Option(
        name="query_timeout",
        parse=_query_timeout,
        metavar="DUR",
        help="query tool: the largest timeout_s a call may ask for, counted from the call's "
        "arrival, waiting for a connection included [10s]",
    ),
    Option(
        name="query_max_bytes",
        parse=_size,
        metavar="SIZE",
        help="query tool: the largest answer (its JSON); a query past it is stopped with an "
        "error [1MiB]",
    ),
    Option(
        name="query_max_value_bytes",
        parse=_size,
        metavar="SIZE",
        help="query tool: the largest value SQLite may build, a cell or an intermediate "
        "(SQLITE_LIMIT_LENGTH) [256KiB]",
    ),
    Option(
        name="query_max_columns",
        parse=_query_columns,
        metavar="N",
        help="query tool: the most columns in a result row (SQLITE_LIMIT_COLUMN); with the "
        "value cap it bounds one row's memory [64]",
    ),
    Option(
        name="query_cache_bytes",
        parse=_size,
        metavar="SIZE",
        help="query tool: SQLite page cache and sort memory per query connection; larger "
        "sorts use temporary files [8MiB]",
    ),
    Option(
        name="query_max_temp_bytes",
        parse=_size,
        metavar="SIZE",
        help="query tool: temporary file space (big sorts and groupings) a query may use "
        "up where SQLite writes them (SQLITE_TMPDIR, TMPDIR, /var/tmp or /tmp) before it "
        "is stopped [128MiB]",
    ),
    Option(name="log_level", choices=("debug", "info", "warning", "error"), help="[info]"),
    Option(name="log_format", choices=("text", "json"), help="[text]"),
)

_BY_NAME = {option.name: option for option in OPTIONS}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every flag of `serve` on `parser`; defaults stay None so precedence applies."""
    for option in OPTIONS:
        if not option.flag:
            continue
        help_text = f"{option.help} (env {option.env_name})"
        if option.boolean:
            parser.add_argument(
                option.flag_name,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                option.flag_name,
                dest=option.name,
                default=None,
                metavar=option.metavar or (None if option.choices else option.name.upper()),
                choices=option.choices,
                help=help_text,
            )


def _parse_value(option: Option, raw: Any, *, source: str) -> Any:
    """One raw value (text from a flag/env, or a TOML value) as the setting's type."""
    if isinstance(raw, bool) and option.boolean:
        return raw
    if isinstance(raw, list) and not option.boolean:
        raw = ",".join(str(item) for item in raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise ConfigError(f"{source}: expected a string, got {type(raw).__name__}")
    try:
        if option.boolean:
            return _bool(raw)
        if option.choices is not None and raw not in option.choices:
            raise ValueError(f"must be one of {', '.join(option.choices)}")
        return option.parse(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: invalid value {raw!r}: {exc}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = key.replace("-", "_")
        option = _BY_NAME.get(name)
        if option is None or not option.in_file:
            known = ", ".join(sorted(o.flag_name[2:] for o in OPTIONS if o.in_file))
            raise ConfigError(f"config file {path}: unknown setting {key!r} (known: {known})")
        values[name] = _parse_value(option, raw, source=f"config file {path}, {key}")
    return values


def resolve_settings(
    args: argparse.Namespace | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from flags, env vars and the config file: flag > env > file > default."""
    env = os.environ if environ is None else environ
    flags = vars(args) if args is not None else {}
    values: dict[str, Any] = {}
    given: dict[str, str] = {}  # setting -> where the user set it (flag, own env var, file)

    config_path: Path | None = flags.get("config")
    if config_path is not None:
        config_path = Path(config_path)
    elif env.get(CONFIG_ENV):
        config_path = Path(env[CONFIG_ENV])
    if config_path is not None:
        from_file = _read_file(config_path)
        values.update(from_file)
        given.update(dict.fromkeys(from_file, f"config file {config_path}"))
        values["config"] = config_path

    for option in OPTIONS:
        if option.name == "config":
            continue
        raw_env = env.get(option.env_name)
        if raw_env is not None and (raw_env != "" or option.name in ("tokens",)):
            values[option.name] = _parse_value(option, raw_env, source=f"env {option.env_name}")
            if option.env_name.startswith(ENV_PREFIX):  # not KUBECONFIG, POD_NAME, ...
                given[option.name] = f"env {option.env_name}"
        raw_flag = flags.get(option.name)
        if raw_flag is not None:
            values[option.name] = (
                raw_flag
                if option.boolean
                else _parse_value(option, raw_flag, source=option.flag_name)
            )
            given[option.name] = option.flag_name
    settings = Settings(**values)
    _check(settings)
    _check_conflicts(settings, given=given)
    return settings


# Settings that another one makes meaningless: (setting, value, ignored settings, why).
_CONFLICTS: tuple[tuple[str, object, tuple[str, ...], str], ...] = (
    ("demo", True, ("kubeconfig", "context"), "--demo watches its own simulated cluster"),
    ("transport", "stdio", ("host", "port"), "--transport stdio serves no HTTP port"),
)


def _check_conflicts(settings: Settings, *, given: Mapping[str, str]) -> None:
    """A setting the user gave that another one would silently ignore is an error.

    Ambient variables (KUBECONFIG, POD_NAME) do not count: `--demo` must work
    on a machine that has a kubeconfig.
    """
    for name, value, ignored, why in _CONFLICTS:
        if getattr(settings, name) != value:
            continue
        for other in ignored:
            if other in given:
                option = _BY_NAME[other]
                source = given[other]
                where = "" if source == option.flag_name else f" (from {source})"
                raise ConfigError(
                    f"{option.flag_name}{where} cannot be used with {_BY_NAME[name].flag_name}"
                    f"{'' if value is True else ' ' + str(value)}: {why}; drop one of them"
                )


def _check(settings: Settings) -> None:
    """Cross-setting rules, so a bad combination fails at startup rather than at first use."""
    if settings.metrics_auth == "token" and not (settings.tokens or settings.token_file):
        raise ConfigError(
            "--metrics-auth token needs bearer tokens: set --token-file or KUBE_WATCHCACHE_TOKENS"
        )
    if settings.webhook_secret_file is not None and settings.webhook_url is None:
        raise ConfigError("--webhook-secret-file is set but --webhook-url is not")
