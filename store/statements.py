"""The writer's statements, and their many-rows forms.

The writer builds each batch as runs of one statement over many parameter
rows. `executemany` steps SQLite once per row, and between two steps the
connection's thread takes the GIL back (to bind the next row): while the
event loop is busy decoding watch events, each of those hand-overs waits its
turn, and a batch that needs 5 ms of SQLite takes ten times that. So a run is
executed as a few statements of up to `MAX_ROWS` rows each (`INSERT ...
VALUES (...), (...)`, `DELETE ... WHERE uid IN (...)`), which hand the GIL
over once per statement instead of once per row.

Row counts are powers of two up to 256, so that a few statement texts serve
every batch (and stay in sqlite3's statement cache, compiled once) while any
run takes at most one statement per bit of its length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any, Final

from kinds.registry import STORED
from store.columns import TABLES
from store.model import Kind

__all__ = [
    "INDEXED",
    "INSERT_TRANSITION",
    "MAX_ROWS",
    "NARROW_UPDATE",
    "UPSERT_SYNC",
    "MultiRow",
    "many_rows",
]

INSERT_TRANSITION: Final = (
    "INSERT INTO transitions (id, at, kind, namespace, name, uid, field, old, new, severity, "
    "reason, message, node, deployment) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
UPSERT_SYNC: Final = (
    "INSERT INTO sync_state (kind, resource_version, synced, last_list_at, last_event_at, "
    "objects, error, confirmed_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(kind) DO UPDATE SET "
    "resource_version=excluded.resource_version, synced=excluded.synced, "
    "last_list_at=excluded.last_list_at, last_event_at=excluded.last_event_at, "
    "objects=excluded.objects, error=excluded.error, confirmed_at=excluded.confirmed_at"
)

# The columns some index covers (store.schema). An update that changes none of
# them — most watch events: a restart count, a condition time, the
# resourceVersion — is written without them, so SQLite touches no index at
# all, instead of rewriting every index entry of the row.
INDEXED: Final[dict[Kind, frozenset[str]]] = {kind: spec.indexed for kind, spec in STORED.items()}

MAX_ROWS: Final = 256
_SIZES = (256, 128, 64, 32, 16, 8, 4, 2, 1)


def _narrow_update_sql(kind: Kind) -> str:
    """UPDATE of the unindexed columns, bound to the same parameters as the upsert.

    Numbered parameters let it take the upsert's tuple as it is. The `problem`
    term of the WHERE clause is true whenever this statement is used (it is
    used only when `problem` did not change); it is there so the statement
    names the last parameter, which fixes the parameter count.
    """
    spec = TABLES[kind]
    names = spec.names
    sets = ", ".join(f"{n} = ?{i + 1}" for i, n in enumerate(names) if n not in INDEXED[kind])
    return (
        f"UPDATE {spec.table} SET {sets} "
        f"WHERE uid = ?{names.index('uid') + 1} AND problem = ?{names.index('problem') + 1}"
    )


NARROW_UPDATE: Final[dict[Kind, str]] = {k: _narrow_update_sql(k) for k in Kind}


class MultiRow:
    """The many-rows form of one single-row statement.

    `key`: the position of the uid in a parameter row, for a statement where
    only the last row of each uid matters (the narrow update); such runs are
    reduced to that row first, which also spares SQLite the earlier ones.
    """

    __slots__ = ("_texts", "head", "key", "row", "tail")

    def __init__(self, *, head: str, row: str, tail: str = "", key: int | None = None) -> None:
        self.head = head
        self.row = row
        self.tail = tail
        self.key = key
        self._texts: dict[int, str] = {}

    def text(self, rows: int) -> str:
        text = self._texts.get(rows)
        if text is None:
            text = self._texts[rows] = self.head + ",".join([self.row] * rows) + self.tail
        return text

    def statements(self, params: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
        """(statement, flat parameters) pairs that together do what the run does, in order."""
        if self.key is not None:
            key = self.key
            params = list({p[key]: p for p in params}.values())
        i, total = 0, len(params)
        for size in _SIZES:
            while total - i >= size:  # more than once only at the largest size
                chunk = params[i : i + size]
                yield self.text(size), list(chain.from_iterable(chunk))
                i += size


def _placeholders(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"


def _forms() -> dict[str, MultiRow]:
    forms: dict[str, MultiRow] = {}
    for kind, spec in TABLES.items():
        names = spec.names
        columns = ", ".join(names)
        row = _placeholders(len(names))
        updatable = [n for n in names if n != "uid"]
        forms[spec.upsert_sql] = MultiRow(
            head=f"INSERT INTO {spec.table} ({columns}) VALUES ",
            row=row,
            tail=" ON CONFLICT(uid) DO UPDATE SET "
            + ", ".join(f"{n}=excluded.{n}" for n in updatable),
        )
        # The narrow update as an upsert that only ever updates: every row of
        # a narrow run is held (the writer chose it because the row exists),
        # and the conflict path writes only the unindexed columns.
        narrow = [n for n in names if n not in INDEXED[kind]]
        forms[NARROW_UPDATE[kind]] = MultiRow(
            head=f"INSERT INTO {spec.table} ({columns}) VALUES ",
            row=row,
            tail=" ON CONFLICT(uid) DO UPDATE SET "
            + ", ".join(f"{n}=excluded.{n}" for n in narrow),
            key=names.index("uid"),
        )
        forms[spec.delete_sql] = MultiRow(
            head=f"DELETE FROM {spec.table} WHERE uid IN (", row="?", tail=")"
        )
    forms[INSERT_TRANSITION] = MultiRow(
        head=INSERT_TRANSITION[: INSERT_TRANSITION.index("VALUES") + len("VALUES ")],
        row=_placeholders(14),
    )
    return forms


_FORMS: Final = _forms()


def many_rows(sql: str, params: Sequence[Sequence[Any]]) -> Iterator[tuple[str, list[Any]]]:
    """A run of `sql` over `params` as few statements of many rows (one if it has no such form)."""
    form = _FORMS.get(sql)
    if form is None or len(params) < 2:
        for p in params:
            yield sql, list(p)
        return
    yield from form.statements(params)
