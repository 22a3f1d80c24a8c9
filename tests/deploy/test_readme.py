"""deploy/README.md stays true to the manifests it documents."""

from __future__ import annotations

import json
import re

import yaml  # type: ignore[import-untyped]  # no stubs installed; only safe_load is used

from tests.deploy.conftest import DEPLOY

README = (DEPLOY / "README.md").read_text()
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def test_config_snippets_parse() -> None:
    assert blocks("json"), "no JSON snippet"
    for body in blocks("json"):
        config = json.loads(body)
        server = config["mcpServers"]["kube-watchcache"]
        assert "http://localhost:8080/mcp" in server["args"]
    assert blocks("yaml"), "no YAML snippet"
    for body in blocks("yaml"):
        assert yaml.safe_load(body)


def test_every_overlay_is_documented() -> None:
    overlays = sorted(path.name for path in (DEPLOY / "overlays").iterdir() if path.is_dir())
    assert overlays == ["ha", "namespaced", "persistent", "prometheus-operator"]
    for name in overlays:
        assert f"`deploy/overlays/{name}`" in README


def test_token_secret_command_matches_the_deployment() -> None:
    deployment = (DEPLOY / "base" / "deployment.yaml").read_text()
    assert "secretName: kube-watchcache-tokens" in deployment
    assert "value: /etc/kube-watchcache/tokens/tokens" in deployment
    assert "create secret generic kube-watchcache-tokens" in README
    assert '--from-literal=tokens="$TOKEN"' in README


def test_claude_code_command_is_the_documented_one() -> None:
    command = (
        "claude mcp add --transport http kube-watchcache http://localhost:8080/mcp \\\n"
        '  --header "Authorization: Bearer $TOKEN"'
    )
    assert command in README
