"""Many rows of one shape in one driver call: INSERT (ON CONFLICT DO NOTHING / DO UPDATE) and
UPDATE by key, compiled once per dialect and bound with the columns' own processors.

SQLAlchemy's generic executemany re-derives every parameter of every row (cache keys, type
coercion, processors looked up per row); for the ledger's hundreds of small rows per
transaction that was most of a write's cost. Here the statement is compiled once, each column's
bind processor is looked up once, and the rows go to the DBAPI's `executemany` as they are.
Same SQL, same types, same transaction as the session's: only the per-row overhead is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session


class _Compiled:
    def __init__(self, stmt: Any, dialect: Any, names: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        # The driver's paramstyle: positional (SQLite's "?") takes tuples in bind order.
        self.order = list(compiled.positiontup) if compiled.positional else None
        procs: dict[str, Callable[[Any], Any]] = {}
        for name in names:  # every bind carries its column's type
            proc = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                procs[name] = proc
        self.columns = self.order if self.order is not None else list(names)
        self.procs = [procs.get(n) for n in self.columns]

    def params(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        columns = list(zip(self.columns, self.procs, strict=True))
        # The same object (a transaction's `now`) fills many rows: processed once per call.
        last: dict[str, tuple[Any, Any]] = {}
        out: list[Any] = []
        for row in rows:
            values = []
            for name, proc in columns:
                value = row[name]
                if proc is not None and value is not None:
                    seen = last.get(name)
                    if seen is None or seen[0] is not value:
                        seen = last[name] = (value, proc(value))
                    value = seen[1]
                values.append(value)
            out.append(tuple(values) if self.order is not None
                       else dict(zip(self.columns, values, strict=True)))
        return out


_CACHE: dict[tuple[Any, ...], _Compiled] = {}


def _run(session: Session, key: tuple[Any, ...], build: Callable[[Any], Any],
         names: Sequence[str], rows: Sequence[dict[str, Any]]) -> int:
    session.flush()  # ORM changes first, in order, as session.execute() would (autoflush)
    conn = session.connection()
    dialect = conn.dialect
    cache_key = (dialect.name, *key)
    compiled = _CACHE.get(cache_key)
    if compiled is None:
        compiled = _CACHE[cache_key] = _Compiled(build(dialect.name), dialect, names)
    result = conn.exec_driver_sql(compiled.sql, compiled.params(rows))
    return max(result.rowcount, 0)  # both drivers sum an executemany's row counts


def _insert_for(dialect_name: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)


def by_shape(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by their set of columns: one statement per shape."""
    out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(r), []).append(r)
    return list(out.values())


def insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]],
                  keys: Sequence[str]) -> int:
    """INSERT ... ON CONFLICT (keys) DO NOTHING; returns how many rows were new."""
    return sum(_insert(session, model, shape, keys, on_conflict_update=False)
               for shape in by_shape(rows))


def upsert(session: Session, model: Any, rows: list[dict[str, Any]],
           keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of every other given column; ORM copies of those
    rows already held by the session are expired so nobody reads the old values."""
    for shape in by_shape(rows):
        _insert(session, model, shape, keys, on_conflict_update=True)
        expire_held(session, model, [tuple(r[k] for k in keys) for r in shape])


def _insert(session: Session, model: Any, rows: list[dict[str, Any]], keys: Sequence[str], *,
            on_conflict_update: bool) -> int:
    table = model.__table__
    names = tuple(rows[0])

    def build(dialect_name: str) -> Any:
        stmt = _insert_for(dialect_name, table).values(
            {n: bindparam(n, type_=table.c[n].type) for n in names})
        if on_conflict_update:
            return stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={n: stmt.excluded[n] for n in names if n not in keys})
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    kind = "ups" if on_conflict_update else "ins"
    return _run(session, (kind, table.name, names, tuple(keys)), build, names, rows)


def update_by_key(session: Session, model: Any, rows: list[dict[str, Any]],
                  keys: Sequence[str], *, where: Any = None, tag: str = "") -> int:
    """UPDATE model SET <other given columns> WHERE <keys> = the row's (and `where`), one
    statement per shape of row; `tag` names a distinct `where` for the statement cache.
    Returns how many rows changed; held ORM copies are expired."""
    return sum(_update_by_key(session, model, shape, keys, where, tag)
               for shape in by_shape(rows))


def _update_by_key(session: Session, model: Any, rows: list[dict[str, Any]],
                   keys: Sequence[str], where: Any, tag: str) -> int:
    table = model.__table__
    names = tuple(rows[0])
    # Key values bind as k_<column>: a column may be both matched and set.
    bound = tuple(f"k_{n}" if n in keys else n for n in names)

    def build(_dialect_name: str) -> Any:
        cond = and_(*[table.c[k] == bindparam(f"k_{k}", type_=table.c[k].type) for k in keys])
        if where is not None:
            cond = and_(cond, where)
        return update(table).where(cond).values(
            {n: bindparam(n, type_=table.c[n].type) for n in names if n not in keys})
    renamed = [{b: r[n] for b, n in zip(bound, names, strict=True)} for r in rows]
    count = _run(session, ("upd", table.name, names, tuple(keys), tag), build, bound, renamed)
    expire_held(session, model, [tuple(r[k] for k in keys) for r in rows])
    return count


def expire_held(session: Session, model: Any, idents: list[tuple[Any, ...]]) -> None:
    """Rows changed behind the ORM's back: its copies in this session are read again."""
    if not session.identity_map:
        return
    for ident in idents:
        held = session.identity_map.get(identity_key(model, ident))
        if held is not None:
            session.expire(held)
