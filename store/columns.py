"""How a row struct maps onto a table: one column per field, derived from the model.

The tables follow `store.model` field by field, so a field the watcher adds
to a row (with a default) becomes a column at the next open without anyone
writing SQL: `schema.ensure_columns` adds what is missing. Scalars are stored
as they are (bools as 0/1); dicts, tuples and nested structs as compact JSON
text, which SQLite's JSON functions (and the guarded SQL entry point) can
read; `obj` stays a BLOB.

The writer's hot path is `TableSpec.params`: one `astuple` plus a JSON encode
per nested field, nothing per scalar.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec
import msgspec.inspect as mi

from kinds.registry import STORED
from store.model import Kind

__all__ = ["EXTRA_COLUMNS", "TABLES", "Column", "TableSpec"]

_encode = msgspec.json.Encoder().encode


class Column(msgspec.Struct, frozen=True):
    name: str
    sql_type: str  # TEXT, INTEGER, REAL, BLOB
    codec: str  # "plain" | "bool" | "json"
    nullable: bool


# Columns the store adds to every kind table, after the model's fields.
# problem: the worst severity rank among the row's health findings (0 = none),
# so "problems only" lists and the health index read a partial index.
EXTRA_COLUMNS: Final = (Column("problem", "INTEGER", "plain", False),)


def _column(field: mi.Field) -> Column:
    t = field.type
    nullable = False
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        nullable = len(members) != len(t.types)
        t = members[0] if len(members) == 1 else t
    if isinstance(t, mi.StrType):
        return Column(field.name, "TEXT", "plain", nullable)
    if isinstance(t, mi.BoolType):
        return Column(field.name, "INTEGER", "bool", nullable)
    if isinstance(t, mi.IntType):
        return Column(field.name, "INTEGER", "plain", nullable)
    if isinstance(t, mi.FloatType):
        return Column(field.name, "REAL", "plain", nullable)
    if isinstance(t, mi.BytesType):
        return Column(field.name, "BLOB", "plain", nullable)
    return Column(field.name, "TEXT", "json", nullable)


class TableSpec:
    """One kind's table: its columns in struct order, and the row <-> SQL codecs."""

    def __init__(self, kind: Kind, table: str, row_type: type[Any]) -> None:
        self.kind = kind
        self.table = table
        self.row_type = row_type
        info = mi.type_info(row_type)
        assert isinstance(info, mi.StructType)
        self.fields: tuple[str, ...] = tuple(f.name for f in info.fields)
        self.model_columns: tuple[Column, ...] = tuple(_column(f) for f in info.fields)
        self.columns: tuple[Column, ...] = self.model_columns + EXTRA_COLUMNS
        self.names: tuple[str, ...] = tuple(c.name for c in self.columns)
        self._json_positions = tuple(
            i for i, c in enumerate(self.model_columns) if c.codec == "json"
        )
        hints = {f.name: f.type for f in msgspec.structs.fields(row_type)}
        self._decoders: dict[int, msgspec.json.Decoder[Any]] = {
            i: msgspec.json.Decoder(hints[self.fields[i]]) for i in self._json_positions
        }
        self._bool_positions = tuple(
            i for i, c in enumerate(self.model_columns) if c.codec == "bool"
        )
        self.select_list = ", ".join(self.fields)
        self.select_list_no_obj = ", ".join(
            f if f != "obj" else "CAST(x'' AS BLOB) AS obj" for f in self.fields
        )
        updatable = [n for n in self.names if n not in ("uid",)]
        placeholders = ", ".join("?" * len(self.names))
        self.upsert_sql = (
            f"INSERT INTO {table} ({', '.join(self.names)}) VALUES ({placeholders}) "
            f"ON CONFLICT(uid) DO UPDATE SET " + ", ".join(f"{n}=excluded.{n}" for n in updatable)
        )
        self.delete_sql = f"DELETE FROM {table} WHERE uid = ?"

    def params(self, row: Any, problem: int) -> tuple[Any, ...]:
        """The upsert parameters of one row (struct order, then the extra columns).

        A tuple, not a list: a batch holds one per row until it commits, and
        tuples of plain values drop out of the garbage collector's walks.
        """
        values = list(msgspec.structs.astuple(row))
        for i in self._json_positions:
            values[i] = _encode(values[i]).decode()
        values.append(problem)
        return tuple(values)

    def row(self, record: Sequence[Any]) -> Any:
        """Rebuild a row from the first `len(fields)` values of a record (struct order)."""
        values = list(record[: len(self.fields)])
        for i, decoder in self._decoders.items():
            raw = values[i]
            values[i] = decoder.decode(raw) if raw is not None else None
        for i in self._bool_positions:
            values[i] = bool(values[i])
        kwargs = {name: v for name, v in zip(self.fields, values, strict=True) if v is not None}
        return self.row_type(**kwargs)


TABLES: Final[dict[Kind, TableSpec]] = {
    kind: TableSpec(kind, spec.table, spec.row_type)
    for kind, spec in STORED.items()
    if spec.row_type is not None
}
