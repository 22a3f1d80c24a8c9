"""The READMEs' shell lines and client configurations run as written.

Every line of a `sh` block in README.md and mcpserver/README.md either says
what it needs that a test machine lacks (a `# needs: ...` comment on the line,
or on the block's first line for the whole block) or is run here: each
`--help`, `make demo PORT=...` (the Makefile's own recipe, the agent behind it
waited for on /ready and stopped with Ctrl-C), every `curl` against that
running demo, and the documented MCP configurations connected to with the
SDK's client: the HTTP URL of `claude mcp add`, and the Claude Desktop stdio
JSON (command and args verbatim, but for the placeholder of the clone's path
and the state file's path).

`kube-watchcache` is what `pip install .` would put on PATH: a console script
in a temporary bin directory (also standing for the clone's `.venv/bin/`)
that runs this checkout's code.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest
from anyio.abc import Process
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.mcpserver.conftest import mcp_client

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", REPO / "mcpserver" / "README.md")
DOCUMENTED_PORT = "8080"
CLONE = "/home/me/kube-watchcache"  # how the docs write the path of your clone
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    source: str
    command: str  # one shell command, continuation lines joined, comments kept
    needs: str | None  # what the README says it needs, or None: it runs offline


def _needs(command: str) -> str | None:
    tokens = shlex.split(command)
    for i, token in enumerate(tokens[:-1]):
        if token == "#" and tokens[i + 1].startswith("needs:"):
            return " ".join(tokens[i + 1 :])
    return None


def _commands(body: str) -> Iterator[str]:
    """Shell commands of a block: `\\` continuations and open quotes span lines."""
    pending = ""
    for line in body.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending)
        except ValueError:  # an open quote: the command goes on
            continue
        if pending.endswith("\\"):
            continue
        if pending.strip():
            yield pending
        pending = ""
    assert not pending, f"unterminated command: {pending!r}"


def snippets() -> list[Snippet]:
    found = []
    for doc in DOCS:
        for lang, body in BLOCK.findall(doc.read_text()):
            if lang != "sh":
                continue
            commands = list(_commands(body))
            whole_block = _needs(commands[0]) if commands[0].startswith("#") else None
            for command in commands:
                if command.startswith("#"):
                    continue
                needs = whole_block or _needs(command)
                found.append(Snippet(doc.relative_to(REPO).as_posix(), command, needs))
    return found


SNIPPETS = snippets()
RUNNABLE = [s for s in SNIPPETS if s.needs is None]
HELP = [s for s in RUNNABLE if "--help" in shlex.split(s.command, comments=True)]
DEMO = [s for s in RUNNABLE if shlex.split(s.command, comments=True)[:2] == ["make", "demo"]]
CURL = [s for s in RUNNABLE if s.command.startswith("curl ")]
# `make test` is this very suite: it runs in CI, not from inside itself.
SELF = [s for s in RUNNABLE if shlex.split(s.command, comments=True)[:2] == ["make", "test"]]


def test_every_line_either_runs_here_or_says_what_it_needs() -> None:
    assert HELP, "no --help line"
    assert DEMO, "no make demo line"
    assert CURL, "no curl line"
    assert SELF, "no make test line"
    unknown = [s for s in RUNNABLE if s not in HELP + DEMO + CURL + SELF]
    assert not unknown, f"add a '# needs: ...' comment or a way to run them: {unknown}"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """`kube-watchcache` as `pip install .` makes it, and `python`, running this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kube-watchcache"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "from mcpserver.cli import main\nsys.exit(main())\n"
    )
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    for path in (script, python):
        path.chmod(0o755)
    return bin_dir


def _env(bin_dir: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE_WATCHCACHE_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env["KUBE_WATCHCACHE_DB"] = str(tmp_path / "demo.db")
    return env


def _in_clone(command: str, bin_dir: Path) -> str:
    return command.replace(".venv/bin/", f"{bin_dir}/")


@pytest.mark.parametrize("snippet", HELP, ids=[s.command.split("#")[0].strip() for s in HELP])
def test_help_lines_run(snippet: Snippet, bin_dir: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", _in_clone(snippet.command, bin_dir)],
        cwd=REPO,
        env=_env(bin_dir, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_make_demo_passes_the_default_port(bin_dir: Path, tmp_path: Path) -> None:
    stamp = tmp_path / "stamp"
    stamp.touch()
    done = subprocess.run(
        ["make", "-n", "demo", f"BIN={bin_dir}", f"STAMP={stamp}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert f"{bin_dir}/kube-watchcache serve --demo --port {DOCUMENTED_PORT}" in done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(base: str, agent: Process, log: Path) -> None:
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(30):
            while True:
                assert agent.returncode is None, await anyio.Path(log).read_text()
                try:
                    if (await http.get(f"{base}/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                await anyio.sleep(0.2)


@pytest.fixture
async def demo(bin_dir: Path, tmp_path: Path) -> AsyncIterator[str]:
    """`make demo PORT=<free port>` as documented, running until the test ends; its port."""
    (line,) = [s for s in DEMO if s.source == "README.md"]
    assert "make demo PORT=" in line.command, "the README says how to pick the port"
    port = str(_free_port())
    argv = [a for a in shlex.split(line.command, comments=True) if not a.startswith("PORT=")]
    argv.append(f"PORT={port}")
    stamp = tmp_path / "stamp"  # the venv make would build: already there
    stamp.touch()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        agent = await anyio.open_process(
            [*argv, f"BIN={bin_dir}", f"STAMP={stamp}"],
            cwd=REPO,
            env=_env(bin_dir, tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await _wait_ready(f"http://127.0.0.1:{port}", agent, log)
        yield port
        os.killpg(agent.pid, signal.SIGINT)  # Ctrl-C in the terminal: make and the agent
        with anyio.fail_after(20):
            await agent.wait()
        assert "Traceback" not in await anyio.Path(log).read_text()
    finally:
        if agent.returncode is None:
            os.killpg(agent.pid, signal.SIGKILL)
            await agent.wait()


@pytest.mark.anyio
async def test_demo_answers_the_documented_curls_and_mcp_clients(
    demo: str, bin_dir: Path, tmp_path: Path
) -> None:
    for snippet in CURL:
        command = snippet.command.replace(f":{DOCUMENTED_PORT}/", f":{demo}/")
        done = await anyio.run_process(
            ["bash", "-c", command], env=_env(bin_dir, tmp_path), check=False
        )
        assert done.returncode == 0, (snippet, done.stderr)
        assert done.stdout, snippet
        if "/mcp" in command:
            answer = json.loads(done.stdout)
            assert not answer["result"].get("isError"), answer
    (claude_code,) = {
        url
        for s in SNIPPETS
        for url in re.findall(r"claude mcp add --transport http \S+ (\S+)", s.command)
        if s.source == "README.md"
    }
    async with mcp_client(claude_code.replace(f":{DOCUMENTED_PORT}/", f":{demo}/")) as client:
        health = await client.call_tool("cluster_health", {})
        assert not health.is_error
        assert health.structured_content is not None


def _claude_desktop_demo_config() -> dict[str, object]:
    text = (REPO / "mcpserver" / "README.md").read_text()
    configs = [json.loads(body) for lang, body in BLOCK.findall(text) if lang == "json"]
    servers = [c["mcpServers"]["kube-watchcache"] for c in configs]
    (server,) = [s for s in servers if "--demo" in s["args"]]
    assert all(str(s["command"]).startswith("/") for s in servers), "Claude Desktop needs a path"
    return dict(server)


@pytest.mark.anyio
async def test_documented_claude_desktop_config_connects_over_stdio(
    bin_dir: Path, tmp_path: Path
) -> None:
    server = _claude_desktop_demo_config()
    command = str(server["command"]).replace(f"{CLONE}/.venv/bin/", f"{bin_dir}/")
    assert command == str(bin_dir / "kube-watchcache"), server["command"]
    args = [str(a) for a in server["args"]]  # type: ignore[attr-defined]
    args = [str(tmp_path / "desktop.db") if a.endswith(".db") else a for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE_WATCHCACHE_")}
    env.update(server.get("env", {}))  # type: ignore[arg-type]
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(tmp_path))
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            health = await client.call_tool("cluster_health", {})
            assert not health.is_error
            assert health.structured_content is not None
