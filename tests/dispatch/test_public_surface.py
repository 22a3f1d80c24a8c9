"""dispatch's public surface is its `__all__`, and it holds the whole callback API."""

from __future__ import annotations

import dispatch


def test_every_exported_name_exists() -> None:
    for name in dispatch.__all__:
        assert hasattr(dispatch, name), name


def test_the_callback_api_is_exported() -> None:
    assert {
        "CallbackRegistry",
        "Subscription",
        "TransitionFilter",
        "TransitionLog",
        "WebhookSink",
        "WebhookError",
        "log_transition",
        "subscribe_while_leading",
    } <= set(dispatch.__all__)
