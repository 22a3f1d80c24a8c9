"""Unit tests of the guards: tokens, Host/Origin lists, token buckets, redaction, durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinds.redaction import REDACTED as STORED_MARKER
from mcpserver.durations import format_duration, parse_duration, parse_since
from mcpserver.errors import ConfigError, InvalidArgument
from mcpserver.surface.redact import REDACTED, redact_env_values
from mcpserver.web.auth import TokenSet, token_label
from mcpserver.web.hostcheck import host_allowed, origin_allowed
from mcpserver.web.ratelimit import TokenBuckets


def test_tokens_from_env_and_rotating_file(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# comment\nfile-token-1\n\n")
    tokens = TokenSet(["env-token"], token_file=file)
    assert tokens.enabled
    assert tokens.verify("env-token")
    assert tokens.verify("file-token-1")
    assert not tokens.verify("file-token")
    assert not tokens.verify("")
    assert not tokens.verify("env-token ")
    file.write_text("file-token-2\n")
    tokens._checked_at = float("-inf")  # skip the re-read interval instead of sleeping
    assert tokens.verify("file-token-2")
    assert not tokens.verify("file-token-1")


def test_deleted_token_file_revokes_its_tokens(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("file-token\n")
    tokens = TokenSet(["env-token"], token_file=file)
    assert tokens.verify("file-token")
    file.unlink()
    tokens._checked_at = float("-inf")
    assert not tokens.verify("file-token")
    assert tokens.verify("env-token")
    file.write_text("file-token-2\n")
    tokens._checked_at = float("-inf")
    assert tokens.verify("file-token-2")


def test_token_file_problems_fail_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read token file"):
        TokenSet(token_file=tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.write_text("\n# nothing\n")
    with pytest.raises(ConfigError, match="holds no tokens"):
        TokenSet(token_file=empty)
    assert not TokenSet().enabled


def test_token_label_hides_the_token() -> None:
    label = token_label("s3cret-token")
    assert label.startswith("token:")
    assert "s3cret" not in label
    assert label == token_label("s3cret-token") != token_label("other")


@pytest.mark.parametrize(
    ("host", "allowed", "ok"),
    [
        ("127.0.0.1:8080", ["localhost", "127.0.0.1"], True),
        ("localhost", ["localhost"], True),
        ("[::1]:8080", ["[::1]"], True),
        ("evil.example:8080", ["localhost", "127.0.0.1"], False),
        ("agent.svc:8080", ["agent.svc:8080"], True),
        ("agent.svc:9090", ["agent.svc:8080"], False),
        ("agent.svc:9090", ["agent.svc:*"], True),
        ("anything", ["*"], True),
        (None, ["*"], False),
    ],
)
def test_host_allow_list(host: str | None, allowed: list[str], ok: bool) -> None:
    assert host_allowed(host, allowed) is ok


def test_origin_allow_list() -> None:
    assert origin_allowed(None, [])
    assert not origin_allowed("http://evil.example", [])
    assert origin_allowed("http://localhost:6274", ["http://localhost:*"])
    assert not origin_allowed("http://localhost.evil:6274", ["http://localhost:*"])
    assert origin_allowed("https://app.example", ["https://app.example/"])
    assert origin_allowed("https://x", ["*"])


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=2, clock=lambda: now[0])
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0
    wait = buckets.take("a")
    assert wait == pytest.approx(0.5)
    assert buckets.take("b") == 0  # other clients are unaffected
    now[0] += 0.5
    assert buckets.take("a") == 0


def test_redaction_of_a_spec_keeps_references_and_counts_values() -> None:
    # One value redacted when it was stored, one literal left by an older agent's state file.
    spec = {
        "containers": [
            {
                "name": "web",
                "env": [
                    {"name": "PASSWORD", "value": REDACTED},
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "EMPTY", "value": ""},
                ],
            }
        ],
        "initContainers": [{"name": "init", "env": [{"name": "X", "value": "hunter2"}]}],
    }
    assert redact_env_values(spec) == 3
    env = spec["containers"][0]["env"]
    assert env[0] == {"name": "PASSWORD", "value": REDACTED}
    assert env[1]["valueFrom"]["secretKeyRef"]["name"] == "s"
    assert env[2]["value"] == REDACTED
    assert spec["initContainers"][0]["env"][0] == {"name": "X", "value": REDACTED}
    assert "hunter2" not in repr(spec)
    assert REDACTED == STORED_MARKER


def test_durations() -> None:
    assert parse_duration("30m") == 1800
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("90") == 90
    assert parse_since("10m", now=1000.0) == 400.0
    assert parse_since("1970-01-01T00:01:00Z", now=0.0) == 60.0
    for bad in ("", "soon", "10x", "m10", "-5"):
        with pytest.raises(InvalidArgument):
            parse_duration(bad)
    with pytest.raises(InvalidArgument, match="invalid time"):
        parse_since("2024-13-45T00:00:00Z", now=0.0)
    assert format_duration(42) == "42s"
    assert format_duration(3900) == "1h5m"
