"""Start-up errors of `kube-watchcache serve`, run as a real process: one line, an exit code.

Each case is what a new user meets in the first hour: no kubeconfig, an API
server that does not answer, a state file that cannot be written, a bad flag
value, two flags that cannot go together, and the first of these over stdio.
A start-up error is exactly one line on stderr (nothing on stdout, which is
the MCP channel with stdio) and exit code 2; an unreachable API server is not
an error at start (it may come back), so its cause must show in /ready and in
every answer.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from tests.mcpserver.conftest import mcp_client, text_of

REPO = Path(__file__).resolve().parents[2]
PROG = "kube-watchcache serve: error: "
# A process that should have stopped at once but is serving gets this long to show it.
STARTUP_LIMIT = 30.0


def _env(home: Path) -> dict[str, str]:
    """The test runner's environment without anything that would point at a cluster."""
    ambient = ("KUBE_WATCHCACHE_", "KUBECONFIG", "KUBERNETES_SERVICE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ambient)}
    env["PYTHONPATH"] = str(REPO)
    env["HOME"] = str(home)
    return env


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`serve *args` to its end; one that keeps running past STARTUP_LIMIT fails the test."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "mcpserver.cli", "serve", *args]
    try:
        return subprocess.run(
            command,
            cwd=tmp_path,
            env=_env(home),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STARTUP_LIMIT,
        )
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-1000:]
        pytest.fail(f"`serve {' '.join(args)}` kept running instead of stopping: ...{tail!r}")


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr, after checking exit code 2 and an empty stdout."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(PROG), lines[0]
    return lines[0].removeprefix(PROG)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: c, cluster: {{server: "{server}"}}}}]\n'
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
        "current-context: x\n"
    )
    return path


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_no_kubeconfig_says_where_it_looked_and_suggests_demo(
    tmp_path: Path, transport: str
) -> None:
    port = ["--port", "0"] if transport == "http" else []  # 8080 may be taken on this machine
    done = _serve(tmp_path, "--transport", transport, *port, "--db", str(tmp_path / "s.db"))
    line = _one_error_line(done)
    assert str(tmp_path / "home" / ".kube" / "config") in line
    assert "KUBECONFIG unset" in line
    assert "KUBERNETES_SERVICE_HOST unset" in line  # the in-cluster env, looked at too
    assert "--demo" in line
    assert not (tmp_path / "s.db").exists()  # nothing was started


def test_a_kubeconfig_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"
    line = _one_error_line(_serve(tmp_path, "--port", "0", "--kubeconfig", str(missing)))
    assert f"kubeconfig {missing} does not exist" in line
    assert "--demo" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("clusters: [\n", "is not valid YAML (line 2)"),
        ("apiVersion: v1\nkind: Config\n", "unusable: Invalid kube-config file"),
    ],
)
def test_a_broken_kubeconfig_is_one_line(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(content)
    line = _one_error_line(_serve(tmp_path, "--port", "0", "--kubeconfig", str(config)))
    assert line.startswith(f"kubeconfig {config} {expected}"), line
    assert "--demo" in line


def _unwritable_places(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    a_directory = tmp_path / "a-directory.db"
    a_directory.mkdir()
    return {"parent is a file": a_file / "s.db", "path is a directory": a_directory}


@pytest.mark.parametrize("case", ["parent is a file", "path is a directory", "read-only directory"])
def test_an_unwritable_state_file_stops_at_once(
    tmp_path: Path, closed_port: int, case: str
) -> None:
    if case == "read-only directory":
        if os.geteuid() == 0:
            pytest.skip("root writes into a read-only directory")
        readonly = tmp_path / "ro"
        readonly.mkdir(mode=0o555)
        db = readonly / "s.db"
    else:
        db = _unwritable_places(tmp_path)[case]
    config = _kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{closed_port}")
    done = _serve(
        tmp_path, "--kubeconfig", str(config), "--db", str(db), "--port", "0",
        "--log-level", "warning",
    )  # fmt: skip
    line = _one_error_line(done)
    assert line.startswith(f"--db: cannot write database {db}"), line
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "abc"], "--port: invalid value 'abc': must be a whole number from 0 to 65535"),
        (["--port", "70000"], "--port: invalid value '70000': must be a whole number from 0"),
        (["--history-retention", "-5m"], "--history-retention: invalid value '-5m': must not be"),
        (
            ["--transport", "sse"],
            "--transport: invalid choice: 'sse' (choose from 'http', 'stdio')",
        ),
        (["--rate-limit", "fast"], "--rate-limit: invalid value 'fast': must be a non-negative"),
        (["--context"], "--context: expected one argument"),
        (["--label-selector", "app in (a"], "--label-selector: invalid value 'app in (a'"),
    ],
)
def test_a_bad_flag_value_is_one_line_with_what_is_allowed(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    line = _one_error_line(_serve(tmp_path, *args))
    assert line.startswith(expected), line
    assert line.endswith("(see kube-watchcache serve --help)"), line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--demo", "--port", "0", "--context", "nope"], "--context cannot be used with --demo"),
        (["--demo", "--port", "0", "--kubeconfig", "k"], "--kubeconfig cannot be used with --demo"),
        (["--transport", "stdio", "--port", "9"], "--port cannot be used with --transport stdio"),
    ],
)
def test_flags_that_cannot_go_together_are_refused(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    line = _one_error_line(_serve(tmp_path, *args, "--db", str(tmp_path / "s.db")))
    assert line.startswith(expected), line


@contextlib.contextmanager
def _serving(tmp_path: Path, *args: str, env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """`serve *args` running: yields its /mcp URL and the stderr lines read so far.

    On leaving, SIGTERM (a clean stop) and every stderr line checked for a traceback.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcpserver.cli", "serve", "--port", "0", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        url = None
        for line in proc.stderr:  # ends if the process does
            seen.append(line)
            if "MCP at " in line:
                url = line.split("MCP at ", 1)[1].split()[0].rstrip(";")
                break
        assert url, "".join(seen)
        yield url, seen
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seen += proc.stderr.readlines()
        proc.stderr.close()
    assert "Traceback" not in "".join(seen)


def test_demo_still_starts_with_an_ambient_kubeconfig(tmp_path: Path) -> None:
    """KUBECONFIG in the environment is not a flag the user gave: --demo must not refuse it."""
    config = _kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:1")
    env = _env(tmp_path) | {"KUBECONFIG": str(config)}
    with _serving(tmp_path, "--demo", "--db", "s.db", env=env) as (url, _):
        assert url.endswith("/mcp")


@pytest.mark.anyio
async def test_an_unreachable_api_server_is_named_in_ready_and_in_answers(
    tmp_path: Path, closed_port: int
) -> None:
    server = f"https://127.0.0.1:{closed_port}"
    cause = f"cannot reach {server}: connection refused"
    config = _kubeconfig(tmp_path / "kubeconfig", server)
    args = ("--kubeconfig", str(config), "--db", str(tmp_path / "s.db"))
    with _serving(tmp_path, *args, env=_env(tmp_path)) as (url, _):
        with anyio.fail_after(20):
            async with httpx.AsyncClient() as http:
                while True:
                    ready = await http.get(url.removesuffix("/mcp") + "/ready")
                    assert ready.status_code == 503
                    if cause in ready.json().get("reason", ""):
                        break
                    await anyio.sleep(0.05)
        async with mcp_client(url) as client:
            health = await client.call_tool("cluster_health", {})
            assert "UNKNOWN" in text_of(health)
            assert cause in text_of(health)
            pods = await client.call_tool("list_pods", {})
            assert pods.structured_content is not None
            freshness = pods.structured_content["freshness"]
            assert freshness["stale"] is True
            assert any(cause in reason for reason in freshness["reasons"])


@pytest.mark.anyio
async def test_an_mcp_client_over_stdio_gets_the_reason_on_stderr(tmp_path: Path) -> None:
    """The SDK's stdio client: the connection closes, and the server's stderr says why."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcpserver.cli", "serve", "--transport", "stdio", "--db", "s.db"],
        env=_env(tmp_path),
        cwd=str(tmp_path),
    )

    async def connect(errlog: TextIO) -> None:
        async with Client(stdio_client(params, errlog=errlog)):
            pytest.fail("the client connected to an agent that has no cluster")

    with (
        (tmp_path / "stderr.log").open("w") as errlog,
        anyio.fail_after(STARTUP_LIMIT),
        pytest.raises(BaseExceptionGroup) as caught,
    ):
        await connect(errlog)
    assert caught.group_contains(MCPError, match="Connection closed", depth=None)
    lines = (tmp_path / "stderr.log").read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(PROG + "no cluster to connect to: no kubeconfig at "), lines[0]
    assert "--demo" in lines[0]
