"""Single-row writes for the reply path, with SQL compiled once per model.

Every reply writes four rows before its upstream call (the conversation, the two messages,
the ledger row) and updates three after it (the reply, its ledger row, the latest upstream
rate-limit headers), plus the checkpoints in between, in batches. Through
`objects.create()` and `.update()`, the ORM compiles each statement afresh, which was most
of a reply's fixed CPU cost and of the time the last message of a burst waits for its
first token (docs/performance.md has the figures). The daily roll-up needs an
increment-on-conflict, which the ORM does not have at all. These helpers keep each
statement's SQL and prepare the values exactly as the ORM does (`pre_save`,
`get_db_prep_save`), on the default database, in the caller's transaction.

They call no `save()` and send no model signals, so they write only the models named in
WRITTEN, which have neither: tests/test_sql.py checks that, so a receiver or a `save()`
override added to one of them later fails the suite instead of being skipped silently.
"""

import functools

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

# The models written here (app_label.ModelName); UserBudget is only read, with a lock.
WRITTEN = (
    "chat.Conversation",
    "chat.Message",
    "usage.UsageRecord",
    "usage.UsageDaily",
    "usage.UpstreamRateLimit",
)


def _writable(model: type[Model]) -> None:
    if model._meta.label not in WRITTEN:
        raise ImproperlyConfigured(
            f"chatapp.sql writes {model._meta.label}, which is not in sql.WRITTEN: add it "
            "there, so the tests check it has no signal receivers and no save() override."
        )


@functools.cache
def _insert_sql(model: type[Model]) -> tuple[str, tuple[Field, ...]]:
    _writable(model)
    meta = model._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(field for field in meta.local_concrete_fields if field is not meta.auto_field)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values}) "
        f"RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def insert(instance: Model) -> Model:
    """Inserts a new model instance (auto primary key) and sets its pk, like `save()`."""
    sql, fields = _insert_sql(type(instance))
    # The thread's connection itself: `django.db.connection` looks it up on every use.
    connection = connections[DEFAULT_DB_ALIAS]
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection=connection)
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple[Field, ...]]:
    _writable(model)
    meta = model._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(meta.get_field(name) for name in names)
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    return sql, fields


def update(instance: Model, names: tuple[str, ...]) -> int:
    """Writes these fields of a saved instance; returns the number of rows updated (0 when
    the row has been deleted meanwhile)."""
    sql, fields = _update_sql(type(instance), names)
    connection = connections[DEFAULT_DB_ALIAS]
    params = [
        field.get_db_prep_save(field.pre_save(instance, False), connection=connection)
        for field in fields
    ]
    params.append(instance.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.cache
def _update_many_sql(
    model: type[Model], names: tuple[str, ...], only_if: tuple[str, ...]
) -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    _writable(model)
    meta = model._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = tuple(meta.get_field(name) for name in names)
    conditions = tuple(meta.get_field(name) for name in only_if)
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    where = " AND ".join(f"{quote(field.column)} = %s" for field in (meta.pk, *conditions))
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}", fields, conditions


def update_many(instances: list[Model], names: tuple[str, ...], **only_if) -> None:
    """Writes these fields of several saved instances of one model, one statement each
    sent together (`executemany`: one round trip on PostgreSQL), each row only where its
    `only_if` fields hold these values (a row that no longer does is left as it is)."""
    if not instances:
        return
    sql, fields, conditions = _update_many_sql(type(instances[0]), names, tuple(only_if))
    connection = connections[DEFAULT_DB_ALIAS]
    kept = [
        field.get_db_prep_save(value, connection=connection)
        for field, value in zip(conditions, only_if.values(), strict=True)
    ]
    rows = [
        [
            *(
                field.get_db_prep_save(field.pre_save(instance, False), connection=connection)
                for field in fields
            ),
            instance.pk,
            *kept,
        ]
        for instance in instances
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


@functools.cache
def _insert_or_add_sql(
    model: type[Model], key: tuple[str, ...], amounts: tuple[str, ...]
) -> tuple[str, tuple[Field, ...], tuple[Field, ...]]:
    _writable(model)
    meta = model._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    table = quote(meta.db_table)
    given = tuple(meta.get_field(name) for name in (*key, *amounts))
    # The other columns take their defaults on insert and are left alone on conflict.
    defaulted = tuple(
        field
        for field in meta.local_concrete_fields
        if field is not meta.auto_field and field not in given
    )
    columns = [quote(field.column) for field in (*given, *defaulted)]
    key_columns = columns[: len(key)]
    increments = ", ".join(
        f"{column} = {table}.{column} + EXCLUDED.{column}"
        for column in columns[len(key) : len(given)]
    )
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {increments}"
    )
    return sql, given, defaulted


def insert_or_add(model: type[Model], *, key: dict, amounts: dict) -> None:
    """Inserts the row `key` with these amounts (its other fields at their defaults), or
    adds the amounts to the row already there: one statement, safe against a concurrent
    first insert. `key` must be the fields of a unique constraint (INSERT … ON CONFLICT,
    which PostgreSQL and SQLite both have)."""
    sql, given, defaulted = _insert_or_add_sql(model, tuple(key), tuple(amounts))
    connection = connections[DEFAULT_DB_ALIAS]
    values = [*key.values(), *amounts.values(), *(field.get_default() for field in defaulted)]
    params = [
        field.get_db_prep_save(value, connection=connection)
        for field, value in zip((*given, *defaulted), values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@functools.cache
def _locking_select_sql(model: type[Model], name: str, key: str) -> tuple[str, Field]:
    meta = model._meta
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    field = meta.get_field(name)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"SELECT {quote(field.column)} FROM {quote(meta.db_table)} "
        f"WHERE {quote(meta.get_field(key).column)} = %s{lock}"
    )
    return sql, field


def select_for_update(model: type[Model], name: str, **where) -> list:
    """The `name` field of the rows whose one `key=value` matches, locked until the
    transaction ends (as `select_for_update()`: where the database locks rows), converted
    as the ORM converts them."""
    ((key, value),) = where.items()
    sql, field = _locking_select_sql(model, name, key)
    connection = connections[DEFAULT_DB_ALIAS]
    column = field.get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        rows = cursor.fetchall()
    values = []
    for (result,) in rows:
        for convert in converters:
            result = convert(result, column, connection)
        values.append(result)
    return values
