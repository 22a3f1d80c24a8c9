"""A throwaway certificate authority and serving certificate for --tls.

client-go (kubectl, the Go MCP server) refuses to send a bearer token over
plain http, so any test or demo that exercises authentication with those
clients needs HTTPS. The CA is generated per run by `trustme` (made for
exactly this: test CAs and certificates) and written out so the kubeconfig
can embed it; nothing here is meant to protect real secrets.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

__all__ = ["TlsMaterial", "generate_tls"]

_ORGANIZATION = "kube-watchcache simulator"


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Where the PEM files are, and the CA PEM itself for kubeconfigs."""

    ca_pem: bytes
    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def generate_tls(
    directory: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsMaterial:
    """Write ca.crt, server.crt and server.key (ECDSA P-256, valid one year) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    # A little slack before now: a client whose clock is slightly behind still accepts it.
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca = trustme.CA(organization_name=_ORGANIZATION)
    server = ca.issue_cert(
        *hosts,
        common_name="kube-apiserver",
        organization_name=_ORGANIZATION,
        not_before=now,
        not_after=now + timedelta(days=365),
    )
    ca_pem = ca.cert_pem.bytes()
    paths = TlsMaterial(
        ca_pem=ca_pem,
        ca_path=directory / "ca.crt",
        cert_path=directory / "server.crt",
        key_path=directory / "server.key",
    )
    paths.ca_path.write_bytes(ca_pem)
    paths.cert_path.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    # Created owner-only before the key is written: it is never readable by others.
    paths.key_path.touch(mode=0o600)
    paths.key_path.chmod(0o600)
    paths.key_path.write_bytes(server.private_key_pem.bytes())
    return paths
