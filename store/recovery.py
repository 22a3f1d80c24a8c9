"""What the writer does when the file fails it: at open, and when a batch does not commit.

A batch that cannot be committed because of the disk (full, read-only, I/O
error) is kept and retried with backoff while the store reports itself
unhealthy; the queue then fills and `put` waits, which slows the informers
instead of losing events. A corrupt file is moved aside and the store
starts empty (the reset listeners are told, so the watcher can relist). A
value SQLite cannot store (an integer beyond 64 bits, a lone surrogate) is
sanitized and logged rather than wedging the writer. A batch that still
cannot be written is given up: the writer's memory is reloaded from the
file, and the reset listeners are told, since only a relist brings the
dropped changes back.

An error that is none of these (neither SQLite's, nor the disk's, nor a
value's) is a bug in the store: the batch is given up the same way, but it
is logged with its traceback and counted (`unexpected_errors`), and an
`apply` waiting for the batch gets the error itself.
"""

from __future__ import annotations

import logging
import sqlite3

import anyio
import msgspec

from store.batch import Batch, sanitize_value
from store.cluster import record_identity
from store.connection import WriteConnection
from store.errors import CorruptStore, StoreError, StoreUnavailable
from store.intake import Intake
from store.listeners import Listeners
from store.memory import ObjectMemory
from store.model import ClusterIdentity
from store.object_policy import enforce_object_policy
from store.settings import StoreSettings
from store.storage import classify, move_aside, translate
from store.view import View

__all__ = ["Recovery", "fail_waiters"]

log = logging.getLogger("store")

# Errors a batch's values can cause: SQLite's own, and what Python's sqlite3 module
# raises binding a value SQLite cannot hold (an int beyond 64 bits, a lone surrogate).
_VALUE_ERRORS = (sqlite3.Error, OverflowError, UnicodeEncodeError)
# SQLite's errors of the file itself, after which the connection is opened again.
_REOPEN_AFTER = ("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY")


def fail_waiters(batch: Batch, error: BaseException) -> None:
    """Tell the flushes and applies waiting for `batch` that it will not commit."""
    for waiter in batch.waiters:
        waiter.error = error
        waiter.done.set()
    batch.waiters.clear()


class Recovery:
    """Opening and loading the file, and bringing a failed batch to a commit or giving it up."""

    def __init__(
        self,
        *,
        settings: StoreSettings,
        connection: WriteConnection,
        memory: ObjectMemory,
        view: View,
        intake: Intake,
        listeners: Listeners,
    ) -> None:
        self.settings = settings
        self.path = connection.path
        self.connection = connection
        self.memory = memory
        self.view = view
        self.intake = intake
        self.listeners = listeners
        # The cluster the file was claimed for; a file started over records it.
        self.cluster: ClusterIdentity | None = None
        self.dropped_rows = 0  # changes of batches given up
        self.unexpected_errors = 0  # batches given up because of a bug (see the docstring)
        self._retry_now = anyio.Event()

    # --- opening -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the file and load it; a damaged file is moved aside once and replaced."""
        try:
            await self.open_and_load()
        except StoreError as e:
            if classify(e) != "corrupt":
                raise
            self.move_aside(e)
            await self.open_and_load()
            self.listeners.reset()
        self.connection.set_healthy()

    async def open_and_load(self) -> None:
        """Open the file and rebuild the writer's memory and the view from it."""
        conn = await self.connection.open()
        try:
            await enforce_object_policy(
                conn, policy=self.settings.stored_object_policy, path=self.path
            )
            await self.reload()
            if self.cluster is not None:  # a file started over keeps the cluster's name
                await record_identity(conn, self.cluster)
        except BaseException as e:
            await self.connection.discard()
            if isinstance(e, msgspec.DecodeError | msgspec.ValidationError):
                raise CorruptStore(f"database {self.path} holds unreadable rows ({e})") from e
            if isinstance(e, sqlite3.Error | OSError):
                raise translate(e, self.path) from e
            raise

    async def reload(self) -> None:
        """Rebuild the writer's memory and the view from the tables.

        Bumps the memory's generation: a batch prepared before is stale and
        is prepared again (`store.pipeline`).
        """
        await self.memory.load(self.connection.require(), self.view)

    async def reconnect(self) -> bool:
        """Keep trying to open the file; False if the store closed meanwhile."""
        delay = self.settings.retry_initial_s
        while not self.intake.finished:
            try:
                await self.connect()
                log.warning("store: database %s is usable again; store healthy", self.path)
                return True
            except StoreError as e:
                self.connection.set_unhealthy(str(e))
            await self._wait_retry(delay)
            delay = min(delay * 2, self.settings.retry_max_s)
        return False

    def move_aside(self, error: BaseException) -> None:
        try:
            moved = move_aside(self.path)
        except OSError as e:
            raise StoreUnavailable(
                f"{error}; and it cannot be moved aside ({type(e).__name__}: {e})"
            ) from e
        log.error("store: %s; moved it aside to %s and starting empty", error, moved)

    def retry_now(self) -> None:
        """Cut the wait before the next retry short (e.g. after the size cap was raised)."""
        self._retry_now.set()

    # --- a batch that failed -------------------------------------------------------------------

    async def commit_failed(self, batch: Batch, error: Exception) -> bool:
        """`batch` failed with `error`: retry until it commits (True) or is given up (False)."""
        delay = self.settings.retry_initial_s
        sanitized = False
        failure: Exception | None = error
        while failure is not None:
            outcome = classify(failure)
            if outcome == "corrupt":
                await self._reset_after_corruption(failure, batch)
                return False
            if outcome == "other":
                if not isinstance(failure, _VALUE_ERRORS):
                    await self._give_up_after_bug(batch, failure)
                    return False
                if sanitized:
                    log.error(
                        "store: cannot commit a batch (%s); reloading state from the database",
                        failure,
                    )
                    await self._give_up(batch, translate(failure, self.path))
                    return False
                sanitized = True
                _sanitize(batch, failure)
            else:  # the disk: wait, then try again
                self.connection.set_unhealthy(str(translate(failure, self.path)))
                if self.intake.finished:
                    await self._give_up(
                        batch, StoreUnavailable(self.connection.last_error or str(failure))
                    )
                    return False
                await self._wait_retry(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                if self.connection.conn is None or getattr(
                    failure, "sqlite_errorname", ""
                ).startswith(_REOPEN_AFTER):
                    await self._reopen()
            failure = await self._try(batch)
        self.connection.wrote()
        return True

    async def _try(self, batch: Batch) -> Exception | None:
        try:
            await self.connection.execute(batch)
        except Exception as e:  # judged by `commit_failed`, which is loud about bugs
            return e
        return None

    async def _give_up(self, batch: Batch, error: BaseException) -> None:
        """Drop a batch that cannot be written, and re-sync memory with what the file holds."""
        self.dropped_rows += len(batch.changes)
        fail_waiters(batch, error)
        if self.connection.conn is not None:
            try:
                await self.reload()
            except (sqlite3.Error, OSError, StoreError, msgspec.DecodeError) as e:
                self.connection.set_unhealthy(str(translate(e, self.path)))
        # The informers have moved past these events: only a relist brings the
        # dropped objects (and any deletion among them) back.
        log.error(
            "store: dropped %d changes that could not be written (%s); relisting",
            len(batch.changes),
            error,
        )
        self.listeners.reset()

    async def _give_up_after_bug(self, batch: Batch, error: Exception) -> None:
        self.unexpected_errors += 1
        log.error(
            "store: a bug stopped a batch of %d changes from being written; dropping it",
            len(batch.changes),
            exc_info=error,
        )
        await self._give_up(batch, error)

    async def _reset_after_corruption(self, error: BaseException, batch: Batch) -> None:
        """The file went bad under us: start over empty, and tell the watcher to relist."""
        await self.connection.close()
        fail_waiters(batch, StoreError(f"store reset after corruption: {error}"))
        try:
            self.move_aside(translate(error, self.path))
            await self.open_and_load()
            self.connection.set_healthy()
        except StoreError as e:
            self.connection.set_unhealthy(str(e))
        self.listeners.reset()

    async def _reopen(self) -> None:
        try:
            await self.connection.open()
        except StoreError as e:
            self.connection.set_unhealthy(str(e))

    async def _wait_retry(self, delay: float) -> None:
        self._retry_now = anyio.Event()
        with anyio.move_on_after(delay):
            await self._retry_now.wait()


def _sanitize(batch: Batch, error: BaseException) -> None:
    log.warning(
        "store: a batch holds values SQLite cannot store (%s); storing them sanitized", error
    )
    for _sql, params in batch.runs:
        params[:] = [tuple(sanitize_value(v) for v in p) for p in params]
    batch.history = [tuple(sanitize_value(v) for v in h) for h in batch.history]
    batch.statements = None
