"""One retry policy for every client of the agent: the API watches and the webhook.

Exponential backoff with full jitter (`Backoff`, configured by a
`BackoffPolicy`), and the one parser of a server's `Retry-After` header
(`parse_retry_after`: delta-seconds or an HTTP date). Plain Python with no
dependency, so both the watcher (towards the API server) and dispatch
(towards webhook receivers) use it without importing each other.
"""

from retry.backoff import Backoff, BackoffPolicy
from retry.retry_after import parse_retry_after

__all__ = ["Backoff", "BackoffPolicy", "parse_retry_after"]
