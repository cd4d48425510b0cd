"""Model columns read by a hand-written SELECT, turned back into values as the ORM would.

The hot paths (the bearer token on every API request, the stored gate row) run one fixed
statement each. Compiling it through the ORM cost more than running it (``BENCHMARKS.md``), so
the statement text is built once from ``_meta`` and each column's value goes through the same
database converters the ORM applies (JSON decoding, SQLite datetimes and booleans). Stored
rows are written back the same way (:class:`RowUpdate`, ``save()`` without compiling it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import Field, Model
from django.db.models.signals import post_save, pre_save
from django.utils.dateparse import parse_datetime

from rsp_portal import prepared

#: A database converter: ``(value, expression, connection) -> value``.
Converter = Callable[..., object]
M = TypeVar("M", bound=Model)


def sql_per_vendor(build: Callable[[Callable[[str], str]], str]) -> Callable[[], str]:
    """A statement's text as ``build(quote_name)`` writes it, built on first use once per
    database vendor (``_meta`` is complete once the apps are loaded)."""
    built: dict[str, str] = {}

    def text() -> str:
        found = built.get(connection.vendor)
        if found is None:
            found = built[connection.vendor] = build(connection.ops.quote_name)
        return found

    return text


class Columns(Generic[M]):
    """Some concrete fields of a model under a table alias in a SELECT."""

    def __init__(self, model: type[M], alias: str, names: Sequence[str] | None = None):
        self.model = model
        self.alias = alias
        concrete = model._meta.concrete_fields
        wanted = set(names) if names is not None else None
        self.fields: tuple[Field[object, object], ...] = tuple(
            f for f in concrete if wanted is None or f.name in wanted or f.attname in wanted
        )
        if wanted is not None and len(self.fields) != len(wanted):
            raise ValueError(f"unknown fields of {model.__name__}: {sorted(wanted)}")
        self.attnames = [f.attname for f in self.fields]
        self._converters: dict[str, list[tuple[object, list[Converter]]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def sql(self) -> str:
        """The column list, ``alias."column", ...``."""
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(f.column or f.attname)}" for f in self.fields)

    def values(self, raw: Sequence[object]) -> list[object]:
        """The raw values of these columns converted as the ORM converts them."""
        converters = self._converters.get(connection.vendor)
        if converters is None:
            converters = []
            for f in self.fields:  # as the ORM's compiler collects them
                col = f.get_col(self.model._meta.db_table)
                found = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
                converters.append((col, found))
            self._converters[connection.vendor] = converters
        out: list[object] = []
        for value, (expression, found) in zip(raw, converters, strict=True):
            for convert in found:
                value = convert(value, expression, connection)
            out.append(value)
        return out

    def instance(self, raw: Sequence[object]) -> M:
        """A model instance from the raw values (columns not selected are deferred)."""
        return self.model.from_db(connection.alias, self.attnames, self.values(raw))


P = TypeVar("P", bound=Model)

#: Builds a WHERE clause (placeholders ``%s``) given the connection's ``quote_name``.
Where = Callable[[Callable[[str], str]], str]


class JoinedRows(Generic[M, P]):
    """Rows of a model with the row its foreign key ``link`` points to, by one hand-written
    ``SELECT ... JOIN ... WHERE`` whose text is built once per database vendor. ``where`` may
    hold ``{name}`` slots that :meth:`fetch` fills with as many placeholders as its ``lists``
    say (an ``IN`` list)."""

    def __init__(
        self,
        child: Callable[[], Columns[M]],
        parent: Callable[[], Columns[P]],
        link: str,
        where: Where,
    ) -> None:
        # The columns are made on first use: ``_meta`` is complete once the apps are loaded.
        self._columns = (child, parent)
        self._link = link
        self._where = where
        self._built: dict[str, tuple[str, Columns[M], Columns[P]]] = {}

    def _statement(self) -> tuple[str, Columns[M], Columns[P]]:
        built = self._built.get(connection.vendor)
        if built is None:
            child, parent = self._columns[0](), self._columns[1]()
            q = connection.ops.quote_name
            pk = parent.model._meta.pk
            assert pk is not None
            sql = (
                f"SELECT {child.sql()}, {parent.sql()} "  # noqa: S608
                f"FROM {q(child.model._meta.db_table)} {child.alias} "
                f"JOIN {q(parent.model._meta.db_table)} {parent.alias} "
                f"ON {parent.alias}.{q(pk.column or pk.attname)} = {child.alias}.{q(self._link)} "
                f"WHERE {self._where(q)}"
            )  # table and column names from _meta; values are parameters
            built = self._built[connection.vendor] = (sql, child, parent)
        return built

    def fetch(self, params: Sequence[int | str], **lists: int) -> list[tuple[M, P]]:
        """The (child, parent) instances of the rows matching ``params``. With one value in
        every list (a single result's lookup) the statement is planned once per connection
        (``rsp_portal.prepared``); other shapes are planned per run, as there are many."""
        template, child, parent = self._statement()
        sql = template.format(**{k: ", ".join(["%s"] * n) for k, n in lists.items()})
        with connection.cursor() as cursor:
            if all(n == 1 for n in lists.values()):
                prepared.statement(sql).execute(cursor, params)
            else:
                cursor.execute(sql, params)
            rows = cursor.fetchall()
        size, end = len(child), len(child) + len(parent)
        return [(child.instance(row[:size]), parent.instance(row[size:end])) for row in rows]


class LockedRows(Generic[M]):
    """The rows of a model whose ``key`` is among some values, locked until commit, as the
    ORM's ``select_for_update(no_key=…).filter(<key>__in=…).order_by(<order>)`` reads them,
    by a statement built once per database vendor (an ``IN`` list sized per call). Without
    row locks (SQLite) the statement reads them as the ORM does there: unlocked."""

    def __init__(self, model: type[M], key: str, order: str, *, no_key: bool = False) -> None:
        self.model = model
        self._names = (key, order)
        self._no_key = no_key
        self._built: dict[str, tuple[str, Columns[M]]] = {}

    def _statement(self) -> tuple[str, Columns[M]]:
        built = self._built.get(connection.vendor)
        if built is None:
            meta = self.model._meta
            key, order = (meta.pk if name == "pk" else meta.get_field(name) for name in self._names)
            assert isinstance(key, Field) and isinstance(order, Field)
            q = connection.ops.quote_name
            columns = Columns(self.model, "t")
            features = connection.features
            lock = ""
            if self._no_key and features.has_select_for_no_key_update:
                lock = " FOR NO KEY UPDATE"
            elif features.has_select_for_update:
                lock = " FOR UPDATE"
            sql = (
                f"SELECT {columns.sql()} FROM {q(meta.db_table)} t "  # noqa: S608
                f"WHERE t.{q(key.column or key.attname)} IN ({{among}}) "
                f"ORDER BY t.{q(order.column or order.attname)}{lock}"
            )  # names from _meta; values are parameters
            built = self._built[connection.vendor] = (sql, columns)
        return built

    def columns(self) -> Columns[M]:
        """The columns the statement reads (for a caller that locks the rows its own way)."""
        return self._statement()[1]

    def raw(self, values: Sequence[int | str]) -> tuple[list[tuple[object, ...]], Columns[M]]:
        """The locked rows' raw values (the columns' order), not yet converted."""
        if not values:
            return [], self._statement()[1]
        sql, columns = self._statement()
        with connection.cursor() as cursor:
            cursor.execute(sql.format(among=", ".join("%s" for _ in values)), list(values))
            return [tuple(row) for row in cursor.fetchall()], columns

    def fetch(self, values: Sequence[int | str]) -> list[M]:
        """The locked rows as instances, as the ORM's query gives them."""
        rows, columns = self.raw(values)
        return [columns.instance(row) for row in rows]


class RowUpdate(Generic[M]):
    """``instance.save()`` of a stored row, without compiling the UPDATE per call: every
    concrete column but the primary key set by primary key, each value prepared as the ORM's
    UPDATE prepares it (``pre_save``, ``get_db_prep_save``), in a statement built once per
    database vendor. Anything the plain path would do differently (a row not stored yet, or
    not found, signal receivers, a field with its own placeholder) goes through ``save()``."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._built: dict[str, tuple[str, tuple[Field[object, object], ...]] | None] = {}

    def _statement(self) -> tuple[str, tuple[Field[object, object], ...]] | None:
        if connection.vendor not in self._built:
            meta = self.model._meta
            pk = meta.pk
            assert pk is not None
            fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
            built = None
            if not meta.parents and not any(hasattr(f, "get_placeholder") for f in fields):
                q = connection.ops.quote_name
                sets = ", ".join(f"{q(f.column or f.attname)} = %s" for f in fields)
                built = (
                    f"UPDATE {q(meta.db_table)} SET {sets} "  # noqa: S608 (names from _meta)
                    f"WHERE {q(pk.column or pk.attname)} = %s",
                    fields,
                )
            self._built[connection.vendor] = built
        return self._built[connection.vendor]

    def save(self, instance: M) -> None:
        built = self._statement()
        if built is None or self._plain(instance):
            instance.save()
            return
        sql, fields = built
        params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(sql, [*params, instance.pk])
            updated = cursor.rowcount
        if updated != 1:  # gone: the plain path inserts it again, as save() always has
            instance.save()
            return
        instance._state.db = connection.alias

    def _plain(self, instance: M) -> bool:
        """Whether ``instance`` must go through ``save()`` (see the class)."""
        model = type(instance)
        return (
            model is not self.model
            or instance.pk is None
            or instance._state.adding
            or pre_save.has_listeners(model)
            or post_save.has_listeners(model)
        )

    def save_many(
        self, instances: Sequence[M], *, kept: Mapping[int, Collection[str]] | None = None
    ) -> None:
        """``save()`` of stored rows in one statement (``bulk_update`` without compiling it
        per call): each column set by a ``CASE`` on the primary key, cast to the column's type
        where the database needs it (as ``bulk_update`` casts). ``kept``: by primary key, the
        columns whose stored value the row already holds; they are not sent (a large JSON
        column rewritten costs more than all the rest), and a column no row changes is left
        out. A row not found is saved again as ``save()`` would."""
        rows = list(instances)
        built = self._statement()
        if built is None or any(self._plain(row) for row in rows):
            for row in rows:
                self.save(row)
            return
        if not rows:
            return
        keys = [row.pk for row in rows]
        if len(set(keys)) != len(keys):
            raise ValueError("save_many() of the same row twice")
        meta = self.model._meta
        assert meta.pk is not None
        q = connection.ops.quote_name
        pk_column = q(meta.pk.column or meta.pk.attname)
        casting = connection.features.requires_casted_case_in_updates
        kept = kept or {}
        sets: list[str] = []
        plan: list[tuple[Field[object, object], list[M]]] = []
        for f in built[1]:
            column = q(f.column or f.attname)
            changed = [row for row in rows if f.attname not in kept.get(row.pk, ())]
            if not changed:
                continue
            plan.append((f, changed))
            value = f"%s::{f.cast_db_type(connection)}" if casting else "%s"
            whens = " ".join(f"WHEN %s THEN {value}" for _ in changed)
            rest = "" if len(changed) == len(rows) else f" ELSE {column}"
            sets.append(f"{column} = CASE {pk_column} {whens}{rest} END")
        params = [
            value
            for f, changed in plan
            for row in changed
            for value in (row.pk, f.get_db_prep_save(f.pre_save(row, False), connection))
        ]
        if not sets:  # nothing changed: the rows only need to exist
            sets.append(f"{pk_column} = {pk_column}")
        among = ", ".join("%s" for _ in rows)
        sql = (
            f"UPDATE {q(meta.db_table)} SET {', '.join(sets)} "  # noqa: S608 (names from _meta)
            f"WHERE {pk_column} IN ({among})"
        )
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(sql, [*params, *keys])
            updated = cursor.rowcount
        if updated != len(rows):  # one is gone: each goes its plain way (save() inserts it)
            for row in rows:
                self.save(row)
            return
        for row in rows:
            row._state.db = connection.alias


@dataclass
class Carried:
    """An ``INSERT … RETURNING`` its primary key that another statement runs as a CTE ahead
    of its own work, saving a round trip where a lock is held (ADR 0058). ``sql`` has ``%s``
    placeholders for ``params`` and returns one column, ``carried_key``. The carrier sets
    ``keys`` once it ran it: the keys inserted, in insertion order (empty when it inserted
    nothing). A carrier that could not carry it leaves ``keys`` None, and the owner runs its
    own statement. ``prepare``: its text is one of a few fixed shapes (one row), worth
    preparing with the carrier's (``rsp_portal.prepared``)."""

    sql: str
    params: list[prepared.Param]
    prepare: bool
    keys: list[int] | None = None

    def run(self) -> list[int]:
        """Run it on its own and set ``keys``: by a carrier with nothing of its own to run,
        or by its owner (:meth:`RowUpsert.claim`)."""
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            self.keys = [row[0] for row in cursor.fetchall()]
        return self.keys


#: A column type's modifier (``varchar(100)``, ``numeric(10, 2)``).
_TYPMOD = re.compile(r"\([^)]*\)")


@functools.lru_cache(maxsize=16)  # a shape per row count: keep a few
def _insert_select(
    head: str, pk: str, fields: tuple[Field[object, object], ...], count: int, after: str
) -> str:
    """``head`` (an INSERT up to ``VALUES``) of ``count`` rows of ``fields`` as an ``INSERT …
    SELECT`` that inserts only when the CTE ``after`` returns a row, returning ``pk`` as
    ``carried_key``. Each value is cast to its column's type without the modifier: a
    ``SELECT`` does not type a bare parameter by the column it is inserted into, as ``INSERT
    … VALUES`` does; the insert then checks the modifier (a length, a scale) as the plain
    INSERT does, where a cast to it would cut a text short. PostgreSQL's spelling."""
    into = head.removesuffix("VALUES ")
    assert into != head
    casts = [_TYPMOD.sub("", str(f.db_type(connection))) for f in fields]
    one = "(" + ", ".join(f"CAST(%s AS {cast})" for cast in casts) + ")"
    values = ", ".join(one for _ in range(count))
    return (
        f"{into}SELECT * FROM (VALUES {values}) v "  # noqa: S608 (names from _meta)
        f"WHERE EXISTS (SELECT 1 FROM {after}) RETURNING {pk} AS carried_key"
    )


class RowUpsert(Generic[M]):
    """``Model.objects.bulk_create(rows, update_conflicts=True, unique_fields=…,
    update_fields=…)`` without compiling it per call: one ``INSERT … ON CONFLICT (…) DO UPDATE
    SET`` (``DO NOTHING`` without ``update``) of every concrete column but the primary key,
    each value prepared as the ORM's INSERT prepares it (``pre_save``, ``get_db_prep_save``),
    the text built once per vendor. A model the plain path treats otherwise (parents, a field
    with its own placeholder) goes through the ORM."""

    def __init__(self, model: type[M], unique: Sequence[str], update: Sequence[str] = ()) -> None:
        self.model = model
        self.unique = tuple(unique)
        self.update = tuple(update)
        self._built: dict[str, tuple[str, str, str, tuple[Field[object, object], ...]] | None] = {}

    def _statement(self) -> tuple[str, str, str, tuple[Field[object, object], ...]] | None:
        """The INSERT up to ``VALUES``, its conflict clause, the primary key's column, the
        fields in the VALUES' order."""
        if connection.vendor not in self._built:
            meta = self.model._meta
            fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
            built = None
            if not meta.parents and not any(hasattr(f, "get_placeholder") for f in fields):
                q = connection.ops.quote_name

                def column(name: str) -> str:
                    field = meta.pk if name == "pk" else meta.get_field(name)
                    assert isinstance(field, Field)
                    return q(field.column or field.attname)

                head = (
                    f"INSERT INTO {q(meta.db_table)} "  # noqa: S608 (names from _meta)
                    f"({', '.join(q(f.column or f.attname) for f in fields)}) VALUES "
                )
                sets = ", ".join(f"{column(n)} = EXCLUDED.{column(n)}" for n in self.update)
                unique = ", ".join(column(n) for n in self.unique)
                action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
                conflict = f" ON CONFLICT ({unique}) {action}" if unique else ""
                built = (head, conflict, column("pk"), fields)
            self._built[connection.vendor] = built
        return self._built[connection.vendor]

    def save(self, rows: Sequence[M]) -> None:
        """Insert ``rows``, each updating the stored row it conflicts with (primary keys
        are not read back)."""
        if not rows:
            return
        built = self._statement()
        if built is None or any(type(row) is not self.model for row in rows):
            self.model._default_manager.bulk_create(
                rows,
                update_conflicts=bool(self.update),
                ignore_conflicts=not self.update,
                unique_fields=self.unique if self.update else None,
                update_fields=self.update or None,
            )
            return
        head, tail, _, fields = built
        one = "(" + ", ".join("%s" for _ in fields) + ")"
        params = [
            f.get_db_prep_save(f.pre_save(row, True), connection) for row in rows for f in fields
        ]
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(head + ", ".join(one for _ in rows) + tail, params)
        for row in rows:
            row._state.adding = False
            row._state.db = connection.alias

    def _claiming(self, row: M) -> Carried | None:
        """:meth:`claim`'s statement for ``row``: ``INSERT … ON CONFLICT DO NOTHING
        RETURNING`` its primary key; None where the ORM inserts it."""
        assert not self.update, "a claim inserts or does nothing"
        built = self._statement()
        if (
            built is None
            or type(row) is not self.model
            or not connection.features.can_return_columns_from_insert
        ):
            return None
        head, tail, pk, fields = built
        one = "(" + ", ".join("%s" for _ in fields) + ")"
        params = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
        return Carried(f"{head}{one}{tail} RETURNING {pk} AS carried_key", params, prepare=True)

    def claim(self, row: M) -> bool:
        """Insert ``row`` unless a stored row holds its ``unique`` values (then False, the
        row left unsaved): ``INSERT … ON CONFLICT DO NOTHING RETURNING`` its primary key, one
        statement; a concurrent uncommitted insert of the same values is waited for, as by
        a plain INSERT. Only without ``update``."""
        claiming = self._claiming(row)
        if claiming is None:
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except IntegrityError:
                return False
            return True
        claiming.run()
        return self.took(row, claiming)

    def carried(self, row: M) -> Carried | None:
        """:meth:`claim` of ``row`` for another statement to carry (:class:`Carried`): its
        ``keys`` are then ``[pk]`` when ``row`` was inserted, ``[]`` when a stored row holds
        its ``unique`` values; set the key with :meth:`took`. PostgreSQL only; None elsewhere
        or where :meth:`claim` takes the ORM's path."""
        return self._claiming(row) if connection.vendor == "postgresql" else None

    def took(self, row: M, carried: Carried) -> bool:
        """Whether the carried claim of ``row`` inserted it (its key then set on it)."""
        if not carried.keys:
            return False
        row.pk = carried.keys[0]
        row._state.adding = False
        row._state.db = connection.alias
        return True


#: An INSERT up to ``VALUES``, the primary key's column, the fields and the values.
_PlainInsert = tuple[str, str, tuple[Field[object, object], ...], list[prepared.Param]]


class RowInsert(Generic[M]):
    """``Model.objects.bulk_create(rows)`` without compiling it per call: one ``INSERT …
    VALUES … RETURNING`` the primary keys, set on the rows in order, each value prepared as
    the ORM's INSERT prepares it; the text built once per vendor. Rows with a primary key
    already, a model the plain path treats otherwise (parents, a field with its own
    placeholder) and a database that returns no rows from an INSERT go through
    ``bulk_create``."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._upsert = RowUpsert(model, unique=())

    def _plain(self, rows: Sequence[M]) -> _PlainInsert | None:
        """The INSERT up to ``VALUES``, the primary key's column, the fields and the values
        of ``rows``, prepared as the ORM's INSERT prepares them; None for rows the ORM
        inserts (see the class)."""
        built = self._upsert._statement()
        if (
            built is None
            or not connection.features.can_return_rows_from_bulk_insert
            or any(type(row) is not self.model or row.pk is not None for row in rows)
        ):
            return None
        head, _, pk, fields = built
        for row in rows:  # as bulk_create: a related object must be saved first
            row._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]
        params = [
            f.get_db_prep_save(f.pre_save(row, True), connection) for row in rows for f in fields
        ]
        return head, pk, fields, params

    def carried(self, rows: Sequence[M], after: str) -> Carried | None:
        """The INSERT of ``rows`` for another statement to carry (:class:`Carried`), inserting
        them only when the carrier's CTE ``after`` returns a row: what ``after`` locks is held
        before the rows take their keys. Pass it to :meth:`insert` after the carrier ran.
        PostgreSQL only; None elsewhere or for rows the ORM inserts."""
        plain = self._plain(rows) if rows and connection.vendor == "postgresql" else None
        if plain is None:
            return None
        head, pk, fields, params = plain
        sql = _insert_select(head, pk, fields, len(rows), after)
        return Carried(sql, params, prepare=len(rows) == 1)

    def insert(self, rows: Sequence[M], carried: Carried | None = None) -> list[M]:
        """Insert ``rows`` and set their keys; with ``carried`` (:meth:`carried` of these
        rows), the keys its carrier's statement inserted them with, when it ran."""
        if not rows:
            return []
        if carried is not None and carried.keys is not None:
            keys = carried.keys
        else:
            plain = self._plain(rows)
            if plain is None:
                return self.model._default_manager.bulk_create(rows)
            head, pk, fields, params = plain
            one = "(" + ", ".join("%s" for _ in fields) + ")"
            with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
                cursor.execute(f"{head}{', '.join(one for _ in rows)} RETURNING {pk}", params)
                keys = [found[0] for found in cursor.fetchall()]
        assert len(keys) == len(rows)
        for row, key in zip(rows, keys, strict=True):
            row.pk = key
            row._state.adding = False
            row._state.db = connection.alias
        return list(rows)


def param_datetime(value: datetime) -> str | datetime | None:
    """A datetime as a query parameter for this connection (SQLite stores text)."""
    return connection.ops.adapt_datetimefield_value(value)


def raw_datetime(value: object) -> datetime | None:
    """A datetime column read by a hand-written SELECT: PostgreSQL gives aware datetimes,
    SQLite naive ones or ISO text, in UTC."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
