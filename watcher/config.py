"""Where the API server is and how to authenticate: in-cluster, kubeconfig, or explicit.

kubernetes-asyncio does the parsing (kubeconfig contexts, exec plugins,
client certificates) and owns the transport (aiohttp with the TLS context it
builds); we only decide which source applies and wrap its errors.

In-cluster tokens are *bound* service-account tokens that the kubelet rotates
(about hourly) by swapping the projected file. kubernetes-asyncio's in-cluster
loader installs a refresh hook that re-reads the file once a minute on its own
clock; ours replaces it with one that re-reads as soon as the file changes
(stat before each request: one syscall per list page or watch connection),
so a rotated token is used on the very next request and tests need not wait a
minute. TLS verification is on unless a kubeconfig or the caller turns it off
explicitly.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml  # type: ignore[import-untyped]  # kubernetes-asyncio's parser
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config import ConfigException, load_kube_config
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_HOST_ENV_NAME,
    SERVICE_PORT_ENV_NAME,
    InClusterConfigLoader,
)

from watcher.errors import ConfigError

__all__ = [
    "DEFAULT_SERVICE_ACCOUNT_DIR",
    "Connection",
    "in_cluster_available",
    "load_connection",
]

log = logging.getLogger(__name__)

DEFAULT_SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclasses.dataclass
class Connection:
    """An open connection to one API server: the ApiClient and where its settings came from.

    Owns the aiohttp session inside `api`; close it (or use `async with`) once.
    """

    api: ApiClient
    host: str
    source: str  # "in-cluster", "kubeconfig <path> context <name>", "explicit"

    async def close(self) -> None:
        await self.api.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def in_cluster_available(environ: Mapping[str, str] | None = None) -> bool:
    """True when the process runs in a pod (the service env variables are set)."""
    env = os.environ if environ is None else environ
    return bool(env.get(SERVICE_HOST_ENV_NAME)) and bool(env.get(SERVICE_PORT_ENV_NAME))


class _RotatingToken:
    """Refresh hook for kubernetes-asyncio: re-read the token file when it changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._token = ""

    def read(self) -> str:
        try:
            st = self._path.stat()
        except OSError as e:
            if self._token:  # mid-rotation: keep the last good token
                return self._token
            raise ConfigError(f"cannot read service-account token {self._path}: {e}") from e
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            text = self._path.read_text().strip()
            if text:
                if self._token:
                    log.info("service-account token %s changed; using the new one", self._path)
                self._token = text
                self._stamp = stamp
            elif not self._token:
                raise ConfigError(f"service-account token {self._path} is empty")
        return self._token

    def __call__(self, configuration: Any, *args: Any) -> None:
        configuration.api_key["BearerToken"] = "Bearer " + self.read()


class _KubeconfigRefresh:
    """Refresh hook for kubeconfig credentials that expire (exec plugins, OIDC).

    kubernetes-asyncio loads them once; its loader re-runs the plugin only
    when the cached credential has expired, so asking it before each request
    is cheap and keeps a long-running agent authenticated.
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    async def __call__(self, configuration: Any, *args: Any) -> None:
        try:
            await self._loader.load_and_set(configuration)
        except (ConfigException, OSError, KeyError, ValueError, TypeError) as e:
            # Keep the last credential; the request's 401 will say the rest.
            log.warning("refreshing kubeconfig credentials failed: %s", e)


def _in_cluster(
    service_account_dir: Path, environ: Mapping[str, str], verify_tls: bool
) -> Configuration:
    token_file = service_account_dir / "token"
    loader = InClusterConfigLoader(
        token_filename=str(token_file),
        cert_filename=str(service_account_dir / "ca.crt"),
        try_refresh_token=False,
        environ=dict(environ),
    )
    cfg = Configuration()
    try:
        loader.load_and_set(cfg)
    except (ConfigException, OSError) as e:
        raise ConfigError(f"in-cluster configuration unusable: {e}") from e
    hook = _RotatingToken(token_file)
    hook(cfg)
    cfg.refresh_api_key_hook = hook
    cfg.verify_ssl = verify_tls
    return cfg


def _explicit(
    server: str, token: str | None, ca_cert: str | os.PathLike[str] | None, verify_tls: bool
) -> Configuration:
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f"server must be an http(s) URL, got {server!r}")
    cfg = Configuration(host=server.rstrip("/"))
    if token:
        cfg.api_key["BearerToken"] = "Bearer " + token
    if ca_cert is not None:
        if not Path(ca_cert).is_file():
            raise ConfigError(f"CA certificate {ca_cert} does not exist")
        cfg.ssl_ca_cert = str(ca_cert)
    cfg.verify_ssl = verify_tls
    return cfg


def _default_kubeconfig(environ: Mapping[str, str]) -> str:
    """The kubeconfig kubectl would read: $KUBECONFIG when set and not empty, else ~/.kube/config.

    Chosen here rather than by kubernetes-asyncio, which takes KUBECONFIG at
    import time, even empty, and then reports a missing file as a kubeconfig
    without current-context.
    """
    return environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _nowhere_to_connect(path: str, *, explicit: bool, environ: Mapping[str, str]) -> str:
    """Where the kubeconfig was looked for, in one line, when none of the places had one."""
    if explicit:
        return f"kubeconfig {path} does not exist"
    looked = f"$KUBECONFIG={path}" if environ.get("KUBECONFIG") else f"{path} (KUBECONFIG unset)"
    return (
        f"no cluster to connect to: no kubeconfig at {looked}, and not in a pod "
        f"({SERVICE_HOST_ENV_NAME} unset)"
    )


async def load_connection(
    *,
    server: str | None = None,
    token: str | None = None,
    ca_cert: str | os.PathLike[str] | None = None,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
    service_account_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    verify_tls: bool = True,
) -> Connection:
    """Open a connection from the first source that applies.

    1. `server` (+ `token`, `ca_cert`): explicit.
    2. in-cluster, when `in_cluster` is True, or when it is None, no
       `kubeconfig` was given and KUBERNETES_SERVICE_HOST/PORT are set;
       token and ca.crt are read from `service_account_dir`.
    3. the kubeconfig at `kubeconfig` (default: $KUBECONFIG, ~/.kube/config),
       with `context` or its current context.

    `verify_tls=False` turns certificate checks off for sources 1 and 2; a
    kubeconfig decides for itself (`insecure-skip-tls-verify`).
    """
    env = os.environ if environ is None else environ
    if server is not None:
        cfg = _explicit(server, token, ca_cert, verify_tls)
        source = "explicit"
    elif in_cluster or (in_cluster is None and kubeconfig is None and in_cluster_available(env)):
        sa_dir = Path(service_account_dir) if service_account_dir else DEFAULT_SERVICE_ACCOUNT_DIR
        cfg = _in_cluster(sa_dir, env, verify_tls)
        source = "in-cluster"
    else:
        path = str(kubeconfig) if kubeconfig else _default_kubeconfig(env)
        # KUBECONFIG may list several files (kubernetes-asyncio merges them): one must exist.
        if not any(os.path.isfile(p) for p in path.split(os.pathsep)):  # noqa: ASYNC240
            raise ConfigError(_nowhere_to_connect(path, explicit=bool(kubeconfig), environ=env))
        cfg = Configuration()
        try:
            loader = await load_kube_config(
                config_file=path, context=context, client_configuration=cfg, persist_config=False
            )
        except yaml.YAMLError as e:  # kubernetes-asyncio lets the parser's error through
            where = getattr(e, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise ConfigError(f"kubeconfig {path} is not valid YAML{line}") from e
        except (ConfigException, OSError, KeyError, ValueError, TypeError) as e:
            raise ConfigError(f"kubeconfig {path} unusable: {e}") from e
        cfg.refresh_api_key_hook = _KubeconfigRefresh(loader)
        source = f"kubeconfig {path}" + (f" context {context}" if context else "")
    log.info("API server %s (%s)", cfg.host, source)
    return Connection(api=ApiClient(configuration=cfg), host=str(cfg.host), source=source)
