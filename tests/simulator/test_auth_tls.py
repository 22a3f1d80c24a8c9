"""Bearer-token authentication, TLS with the simulator's own CA, kubeconfig files."""

from __future__ import annotations

import base64
import json
import ssl
from pathlib import Path

import httpx
import pytest

from simulator import Simulator

from .kit import serve

pytestmark = pytest.mark.anyio


async def test_requests_without_the_token_get_a_401_status() -> None:
    async with Simulator(token="s3cret") as sim, httpx.AsyncClient(base_url=sim.url) as client:
        missing = await client.get("/api/v1/pods")
        assert missing.status_code == 401
        assert missing.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }
        wrong = await client.get("/api", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get("/api/v1/pods", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        # Probes and /version stay open, as on a real API server.
        for path in ("/healthz", "/readyz", "/livez", "/version"):
            assert (await client.get(path)).status_code == 200
        assert sim.requests.count(verb="list", resource="pods") == 1
        assert sim.requests.count(verb="unauthenticated") == 2


async def test_tls_serves_a_certificate_signed_by_the_written_ca(tmp_path: Path) -> None:
    async with serve(tls=True, token="t", tls_dir=tmp_path) as (sim, client):
        assert sim.url.startswith("https://127.0.0.1:")
        assert sim.ca_path == tmp_path / "ca.crt"
        assert (await client.get("/api/v1/pods")).status_code == 200
        untrusted = httpx.AsyncClient(base_url=sim.url, verify=ssl.create_default_context())
        async with untrusted:
            with pytest.raises(httpx.ConnectError):
                await untrusted.get("/version")
    assert (tmp_path / "ca.crt").exists()  # a tls_dir we were given is left in place


async def test_the_kubeconfig_points_at_the_server_with_ca_and_token(tmp_path: Path) -> None:
    async with serve(tls=True, token="t") as (sim, _):
        path = sim.write_kubeconfig(tmp_path / "sim.kubeconfig")
        config = json.loads(path.read_text())
        assert path.stat().st_mode & 0o077 == 0
        cluster = config["clusters"][0]["cluster"]
        assert cluster["server"] == sim.url
        assert base64.b64decode(cluster["certificate-authority-data"]) == sim.ca_pem
        assert config["users"][0]["user"] == {"token": "t"}
        assert config["current-context"] == config["contexts"][0]["name"]
        owned_dir = sim.ca_path
    assert owned_dir is not None
    assert not owned_dir.exists()  # a temporary tls dir is removed on stop
