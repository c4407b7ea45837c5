"""Statements compiled once by SQLAlchemy, executed on the driver's own cursor.

The decision log's append is the service's hottest write: every recorded decision runs the same
three statements (read the chain head, insert the records, move the head). Through SQLAlchemy's
``Connection.execute`` each costs an execution context, result metadata and event dispatch —
about 0.5 ms of CPU per append on SQLite, three times what SQLite itself spends writing a
22 KiB record with its fsync. So the append compiles its statements once per dialect (the SQL
text, parameter order and the columns' bind processors SQLAlchemy would use) and runs them on the
DBAPI cursor of the connection SQLAlchemy opened, inside SQLAlchemy's transaction: the same SQL,
the same bound values, the same transaction; only the per-call bookkeeping is gone.

Driver errors are raised as the store's own by ``Database.write`` and ``Database.driver_write``
(``translate_errors`` with the dialect): a unique violation is a :class:`ConflictError`, so the
appender's careful retry still finds a repeated decision id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.selectable import Select

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """One statement as the driver takes it: SQL text, and how to turn named values into the
    driver's parameters (positional for ``?``-style drivers, a mapping for ``%(name)s``)."""

    sql: str
    order: tuple[str, ...] | None  # parameter names in placeholder order; None: by name
    defaults: Mapping[str, Any]  # values bound in the statement itself (``WHERE id = 1``)
    processors: Mapping[str, Processor]  # the columns' bind processors (dates on SQLite, …)

    @classmethod
    def compile(
        cls, statement: Select[Any] | Insert | Update, dialect: Dialect, keys: Sequence[str] = ()
    ) -> DriverStatement:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        assert isinstance(compiled, SQLCompiler)
        defaults = compiled.construct_params(_check=False) or {}
        processors = {k: p for k, p in compiled._bind_processors.items() if callable(p)}
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(compiled.string, order, dict(defaults), processors)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        bound = {**self.defaults, **values}
        for key, process in self.processors.items():
            if key in bound:
                bound[key] = process(bound[key])
        if self.order is None:
            return bound
        return tuple(bound[key] for key in self.order)


def cursor(conn: Connection) -> Any:
    """A cursor of the DBAPI connection under ``conn``, in ``conn``'s transaction."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
