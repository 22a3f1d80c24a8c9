"""The webhook sink: POST each transition as JSON to a URL, retried, optionally signed.

Built for receivers such as Alertmanager-style relays, Slack bridges or n8n:
the body is the transition itself as a JSON object (`at`, `kind`,
`namespace`, `name`, `uid`, `field`, `old`, `new`, `severity`, `reason`,
`message`, `id`). Headers:

- `X-Watchcache-Delivery`: the same on every attempt of one transition, so a
  receiver can drop the duplicate a retry may cause (the store's history id
  when there is one).
- `X-Watchcache-Signature: sha256=<hex>` when a secret is set: HMAC-SHA256 of
  the exact body bytes, as GitHub-style receivers check it.

5xx answers, 429, timeouts and connection errors are retried under the
agent's one retry policy (`retry`: exponential backoff with full jitter,
a `Retry-After` in seconds or as an HTTP date obeyed up to `backoff_max`),
up to `max_attempts`; any other 4xx is the receiver refusing the payload
and is not retried. Every attempt is bounded by `timeout`, so a receiver
that hangs costs this sink's own queue at most (see `callbacks`), never
ingestion. A transition given up on raises `WebhookError`, a
`DeliveryError`: the dispatcher counts it and logs it without a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from types import TracebackType

import anyio
import httpx
import msgspec

from dispatch.callbacks import DeliveryError
from retry import Backoff, BackoffPolicy, parse_retry_after
from store.model import Transition

__all__ = ["WebhookError", "WebhookSink"]

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class WebhookError(DeliveryError):
    """A transition could not be delivered (after the retries, or refused)."""


class WebhookSink:
    """An async callback (`await sink(transition)`) that POSTs to `url`."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s), got {url!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.name = f"webhook {url}"  # the subscription's name in logs
        self.delivered = 0
        self.failed = 0
        self.retries = 0
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._max_attempts = max_attempts
        # One policy for every attempt of one transition: a fresh streak per transition.
        self._backoff = BackoffPolicy(
            initial=backoff_initial, max=backoff_max, retry_after_max=backoff_max
        )
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        self._timeout = timeout
        self._rng = rng or random.Random()

    def _request_headers(self, t: Transition, body: bytes) -> dict[str, str]:
        headers = dict(self._headers)
        delivery = (
            str(t.id)
            if t.id is not None
            else hashlib.sha256(f"{t.uid}\0{t.field}\0{t.at!r}\0{t.new}".encode()).hexdigest()[:32]
        )
        headers["X-Watchcache-Delivery"] = delivery
        if self._secret is not None:
            digest = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
            headers["X-Watchcache-Signature"] = "sha256=" + digest
        return headers

    async def __call__(self, t: Transition) -> None:
        body = _encoder.encode(t)
        headers = self._request_headers(t, body)
        error = ""
        backoff = Backoff(self._backoff, rng=self._rng)
        for attempt in range(self._max_attempts):
            if attempt:
                self.retries += 1
            retry_after: float | None = None
            try:
                resp = await self._client.post(
                    self.url, content=body, headers=headers, timeout=self._timeout
                )
            except httpx.TimeoutException as e:
                error = f"timeout after {self._timeout} s ({type(e).__name__})"
            except httpx.TransportError as e:
                error = f"{type(e).__name__}: {e}"
            else:
                if resp.is_success:
                    self.delivered += 1
                    return
                error = f"HTTP {resp.status_code}"
                if resp.status_code < 500 and resp.status_code != 429:
                    self.failed += 1
                    raise WebhookError(f"{self.url} refused the transition: {error}")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if attempt + 1 < self._max_attempts:
                await anyio.sleep(backoff.next_delay(retry_after=retry_after))
        self.failed += 1
        raise WebhookError(f"{self.url}: gave up after {self._max_attempts} attempts ({error})")

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> WebhookSink:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
