"""The store's exceptions: one small hierarchy, so callers catch what they can act on.

`StoreError` is the root. Storage problems the operator must fix (full disk,
read-only filesystem, missing permissions) are `StoreUnavailable`; a damaged
file is `CorruptStore` (the store moves it aside and starts fresh); a bad
request from a caller (unknown filter, malformed selector or cursor, a write
through the guarded SQL entry point) is `InvalidQuery`, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "CorruptStore",
    "InvalidQuery",
    "InvalidRow",
    "InvalidSelector",
    "QueryBusy",
    "QueryTimeout",
    "QueryTooLarge",
    "StoreClosed",
    "StoreError",
    "StoreUnavailable",
]


class StoreError(Exception):
    """Anything the store cannot do."""


class StoreUnavailable(StoreError):
    """The database file cannot be opened or written (disk full, read-only, permissions).

    The store stays up, marked unhealthy, and retries; readers get this error
    with the cause until the file is usable again.
    """


class CorruptStore(StoreError):
    """The database file is not a valid SQLite database of ours."""


class InvalidRow(StoreError, ValueError):
    """A delta the writer refuses: wrong row type for its kind, unknown event type, no uid."""


class StoreClosed(StoreError):
    """The store was closed; nothing more can be written or read."""


class InvalidQuery(StoreError):
    """A read request the store refuses: bad filter, cursor, SQL or limit."""


class InvalidSelector(InvalidQuery):
    """A Kubernetes label selector that does not parse."""


class QueryTimeout(InvalidQuery):
    """A guarded SQL query ran past its time cap and was interrupted."""


class QueryTooLarge(InvalidQuery):
    """A guarded SQL answer, or a value in it, went past its byte cap; the query was stopped."""


class QueryBusy(InvalidQuery):
    """The caller already has as many guarded SQL queries in progress as it may."""
