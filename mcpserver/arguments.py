"""What every handler checks about a client's arguments before using them.

JSON can carry text that is not valid Unicode: a lone surrogate such as
`"\\ud800"` decodes to a Python string that nothing downstream can encode
(SQLite, the log, the answer itself), so it is refused at the door, once for
every tool, prompt and resource, by `KubeWatchcacheServer`. And a value
echoed back in an error message is shown by `shown`: quoted, escaped (so it
cannot forge a line of the log or of the answer) and cut to a readable length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["clipped", "shown", "text_problem"]

# Longest echo of a client's value in an error message, and of the message itself.
SHOWN_CHARS = 60
MESSAGE_CHARS = 500


def shown(value: object, *, limit: int = SHOWN_CHARS) -> str:
    """`value` as an error message quotes it: repr, cut to about `limit` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:limit]}...{size}"


def clipped(message: str, *, limit: int = MESSAGE_CHARS) -> str:
    """An error message cut to `limit` characters, saying so."""
    if len(message) <= limit:
        return message
    return message[:limit] + "... (message cut)"


def _invalid_text(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text_problem(arguments: Mapping[str, Any] | None) -> str | None:
    """Which argument holds text that is not valid Unicode, as a message; None if none does.

    Looks at every string, keys and values, however deeply nested (iteratively,
    so no nesting can exhaust the stack).
    """
    stack: list[tuple[str, Any]] = [("", arguments or {})]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _invalid_text(value):
                return f"{path or 'argument'}: not valid Unicode text (a lone surrogate?)"
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str) and _invalid_text(key):
                    return f"{path or 'arguments'}: an argument name is not valid Unicode text"
                stack.append((f"{path}.{key}" if path else str(key), item))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None
