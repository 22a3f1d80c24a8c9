"""Configuration precedence (flag > env > file > default) and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpserver.cli import build_parser
from mcpserver.config import OPTIONS, Settings, resolve_settings
from mcpserver.errors import ConfigError


def _args(*argv: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["serve", *argv])


def test_defaults_follow_the_contract() -> None:
    settings = resolve_settings(_args(), environ={})
    assert settings.transport == "http"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.db == Path("kube-watchcache.db")
    assert settings.metrics_auth == "open"
    assert settings.rate_limit == 0
    assert settings.history_retention == 7 * 86400
    assert settings.effective_allowed_hosts() == ("localhost", "127.0.0.1", "[::1]")
    assert not settings.demo


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'port = 7000\nlog-level = "debug"\nnamespaces = ["a", "b"]\ndemo = true\n'
        'kinds = ["pods", "deployments"]\n'
    )
    env = {"KUBE_WATCHCACHE_CONFIG": str(config), "KUBE_WATCHCACHE_PORT": "7100"}
    settings = resolve_settings(_args("--port", "7200"), environ=env)
    assert settings.port == 7200
    assert settings.log_level == "debug"
    assert settings.namespaces == ("a", "b")
    assert settings.demo is True
    assert settings.kinds == ("pods", "deployments")
    assert resolve_settings(_args(), environ=env).port == 7100
    assert resolve_settings(_args("--no-demo"), environ=env).demo is False


def test_env_names_follow_the_contract() -> None:
    env = {
        "KUBE_WATCHCACHE_DEMO": "true",
        "KUBE_WATCHCACHE_TRANSPORT": "stdio",
        "KUBE_WATCHCACHE_NAMESPACES": "x, y",
        "KUBE_WATCHCACHE_TOKENS": "t1,t2",
        "KUBE_WATCHCACHE_METRICS_AUTH": "token",
        "KUBE_WATCHCACHE_ALLOWED_HOSTS": "agent.example,*",
        "KUBE_WATCHCACHE_RATE_LIMIT": "2.5",
        "KUBECONFIG": "/k/config",
        "POD_NAMESPACE": "ops",
        "POD_NAME": "agent-0",
        "KUBE_WATCHCACHE_HISTORY_RETENTION": "12h",
        "KUBE_WATCHCACHE_LOG_FORMAT": "json",
        "KUBE_WATCHCACHE_KINDS": "pods, deployments",
    }
    settings = resolve_settings(_args(), environ=env)
    assert settings.demo
    assert settings.transport == "stdio"
    assert settings.namespaces == ("x", "y")
    assert settings.tokens == ("t1", "t2")
    assert settings.metrics_auth == "token"
    assert settings.allowed_hosts == ("agent.example", "*")
    assert settings.rate_limit == 2.5
    assert settings.kubeconfig == Path("/k/config")
    assert settings.lease_namespace == "ops"
    assert settings.identity == "agent-0"
    assert settings.history_retention == 12 * 3600
    assert settings.log_format == "json"
    assert settings.kinds == ("pods", "deployments")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"KUBE_WATCHCACHE_PORT": "70000"}, "KUBE_WATCHCACHE_PORT"),
        ({"KUBE_WATCHCACHE_DEMO": "maybe"}, "KUBE_WATCHCACHE_DEMO"),
        ({"KUBE_WATCHCACHE_TRANSPORT": "sse"}, "must be one of"),
        ({"KUBE_WATCHCACHE_HISTORY_RETENTION": "forever"}, "invalid duration"),
        ({"KUBE_WATCHCACHE_RATE_LIMIT": "-1"}, "non-negative"),
        ({"KUBE_WATCHCACHE_WEBHOOK_URL": "ftp://x"}, "http"),
        ({"KUBE_WATCHCACHE_METRICS_AUTH": "token"}, "needs bearer tokens"),
        ({"KUBE_WATCHCACHE_KINDS": "pods,services"}, "choose one or more"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        resolve_settings(_args(), environ=env)


def test_config_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_settings(_args("--config", str(bad)), environ={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        resolve_settings(_args("--config", str(unknown)), environ={})
    secret = tmp_path / "secret.toml"
    secret.write_text('tokens = "abc"\n')
    with pytest.raises(ConfigError, match="unknown setting 'tokens'"):
        resolve_settings(_args("--config", str(secret)), environ={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve_settings(_args("--config", str(tmp_path / "missing.toml")), environ={})


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = capsys.readouterr().out
    for option in OPTIONS:
        if option.flag:
            assert option.flag_name in text
        assert option.env_name in text
    assert "flag > environment > config file > default" in text


def test_settings_fields_all_have_an_option() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert fields == {option.name for option in OPTIONS}
