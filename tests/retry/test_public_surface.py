"""retry's public surface is its `__all__`."""

from __future__ import annotations

import retry


def test_every_exported_name_exists() -> None:
    assert set(retry.__all__) == {"Backoff", "BackoffPolicy", "parse_retry_after"}
    for name in retry.__all__:
        assert hasattr(retry, name), name
