"""Kubeconfig files that point any client at the simulator.

Written as JSON, which is valid YAML: kubectl, client-go and
kubernetes-asyncio's loader all read it, and the simulator needs no YAML
library to produce it.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["kubeconfig", "write_kubeconfig"]

_NAME = "kube-watchcache-sim"


def kubeconfig(
    *,
    server: str,
    ca_pem: bytes | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    """One cluster, one user, one current context named `kube-watchcache-sim`."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": _NAME, "cluster": cluster}],
        "users": [{"name": _NAME, "user": user}],
        "contexts": [
            {"name": _NAME, "context": {"cluster": _NAME, "user": _NAME, "namespace": namespace}}
        ],
        "current-context": _NAME,
        "preferences": {},
    }


def write_kubeconfig(path: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    """Write `config` readable only by its owner (it may hold a token)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    return target
