"""The SMS room's raw SQL, in one place: every statement the hot path sends to PostgreSQL.

Each is a round trip the ORM would have made several of (or parsed anew for every batch); the
docstrings say what each one saves. Identifiers come from the models' own metadata; values are
always bound parameters.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections

from cpaas.core.db import execute_prepared, pg_cursor
from cpaas.messaging import infra
from cpaas.messaging.models import Message, OptOut, ReceiptOrphan, Status

MESSAGES = Message._meta.db_table
ORPHANS = ReceiptOrphan._meta.db_table

# --- accept ------------------------------------------------------------------------------------

_COLUMNS: list[tuple[str, str]] | None = None


def message_row(message: Message) -> dict:
    """The message as the JSON object ``jsonb_populate_record(set)`` reads (column -> value); a key
    left out is NULL, as a null value would be: a shorter document to write and to parse."""
    global _COLUMNS
    if _COLUMNS is None:
        _COLUMNS = [(field.column, field.attname) for field in Message._meta.concrete_fields]
    state = message.__dict__
    return {column: value for column, attname in _COLUMNS if (value := state[attname]) is not None}


_OPTED_OUT = f"SELECT 1 FROM {OptOut._meta.db_table} WHERE app_id = %s AND number = %s"  # noqa: S608
INSERT_UNLESS_OPTED_OUT = (
    f"INSERT INTO {MESSAGES} SELECT * FROM jsonb_populate_record(NULL::{MESSAGES}, %s::jsonb) "  # noqa: S608
    f"WHERE NOT EXISTS ({_OPTED_OUT})")

#: The lean send path's group commit (cpaas/messaging/accept/commit.py): many requests' rows in
#: one statement, each row checked against the opt-outs; the ids written come back.
INSERT_GROUP_UNLESS_OPTED_OUT = (
    f"INSERT INTO {MESSAGES} SELECT r.* FROM jsonb_populate_recordset(NULL::{MESSAGES}, %s::jsonb) AS r "  # noqa: S608
    f"WHERE NOT EXISTS (SELECT 1 FROM {OptOut._meta.db_table} o WHERE o.app_id = r.app_id "
    "AND o.number = r.to) RETURNING id")


def message_insert_unless_opted_out(message: Message) -> bool:
    """INSERT … SELECT … WHERE NOT EXISTS (opt-out): the check and the write in one round trip.
    False when the recipient opted out (nothing written).

    The row travels as one JSON parameter read by ``jsonb_populate_record``: adapting ~40 separate
    parameters cost more CPU than the rest of the request's own work (bench/profile_sms_send.py).
    """
    db = connections[DEFAULT_DB_ALIAS]
    row = json.dumps(message_row(message), default=infra.json_value)
    with pg_cursor(db) as cursor, db.wrap_database_errors:
        execute_prepared(cursor, INSERT_UNLESS_OPTED_OUT, [row, message.app_id, message.to])
        return cursor.rowcount == 1


def messages_copy(messages: list[Message]) -> None:
    """Insert many messages at once with COPY (several times cheaper than the ORM's bulk_create
    at 1,000 rows)."""
    if not messages:
        return
    fields = list(Message._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    json_fields = {field.attname for field in fields if field.get_internal_type() == "JSONField"}
    names = [field.attname for field in fields]
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {MESSAGES} ({columns}) FROM STDIN") as copy:
            for message in messages:
                copy.write_row([json.dumps(getattr(message, name)) if name in json_fields
                                else getattr(message, name) for name in names])


# --- claim -------------------------------------------------------------------------------------

# ``= ANY(ARRAY(subquery))``: the locking subquery runs once as an InitPlan whatever the
# statistics say. With ``IN (subquery)``, fresh statistics (few queued rows) made the planner pick
# a nested-loop semi join that re-ran the LIMIT … FOR UPDATE for every queued row: 3 ms of
# database CPU per message and a fifth of the throughput.
# The statuses are literals, not parameters: the statement is prepared, and only a literal lets
# the generic plan use the partial index of queued rows (msg_queued_idx).
CLAIM = (f"UPDATE {MESSAGES} SET status = '{Status.SENDING}', sending_at = %s, lease_until = %s, "  # noqa: S608
         f"attempts = attempts + 1, sequence = sequence + 1 WHERE id = ANY(ARRAY(SELECT id FROM "
         f"{MESSAGES} WHERE status = '{Status.QUEUED}' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)) "
         f"AND status = '{Status.QUEUED}' RETURNING *")


def messages_claim(limit: int, now: datetime, lease_until: datetime) -> list[Message]:
    """``queued → sending`` for up to ``limit`` rows no other worker holds, in one autocommit
    statement (prepared); the claimed rows, in id order."""
    db = connections[DEFAULT_DB_ALIAS]
    with pg_cursor(db) as cursor, db.wrap_database_errors:
        execute_prepared(cursor, CLAIM, [now, lease_until, limit])
        claimed = messages_fetch(cursor)
    claimed.sort(key=lambda message: message.id)
    return claimed


_FIELDS = Message._meta.concrete_fields
_JSON_COLUMNS = frozenset(f.column for f in _FIELDS if f.get_internal_type() == "JSONField")
_ORDERS: dict[tuple[str, ...], tuple[list[int], list[int]]] = {}


def messages_fetch(cursor) -> list[Message]:
    """The cursor's whole-row results (``SELECT m.*``, ``RETURNING *``) as Message instances.

    What ``Message.objects.raw`` does, for the columns this room's statements return: the table's
    column order mapped to the model's field order once per shape, jsonb (which Django's
    connection loads as text) parsed. RawQuerySet's per-row machinery cost more than fetching
    the row itself: ~100 µs a row, twice per message (claim and receipt), decision 1021.
    """
    columns = tuple(column.name for column in cursor.description)
    order = _ORDERS.get(columns)
    if order is None:
        position = {name: index for index, name in enumerate(columns)}
        order = _ORDERS[columns] = ([position[field.column] for field in _FIELDS],
                                    [index for index, field in enumerate(_FIELDS) if field.column in _JSON_COLUMNS])
    positions, json_at = order
    attnames = [field.attname for field in _FIELDS]
    out = []
    for row in cursor.fetchall():
        values = [row[index] for index in positions]
        for index in json_at:
            if isinstance(values[index], str):
                values[index] = json.loads(values[index])
        out.append(Message.from_db(DEFAULT_DB_ALIAS, attnames, values))
    return out


# --- settle ------------------------------------------------------------------------------------

def sending_lock(ids: list[str]) -> list[str]:
    """Lock these messages that are still ``sending``; their ids, in id order (the lock order of
    docs/architecture.md). The ids go as one array (server-side binding)."""
    with pg_cursor() as cursor:
        cursor.execute(f"SELECT id FROM {MESSAGES} WHERE id = ANY(%s) "  # noqa: S608
                       "AND status = %s ORDER BY id FOR UPDATE", [ids, Status.SENDING])
        return [row[0] for row in cursor.fetchall()]


_CASTS = {"DecimalField": "numeric", "CharField": "text", "TextField": "text", "DateTimeField": "timestamptz",
          "JSONField": "jsonb", "PositiveIntegerField": "integer", "PositiveSmallIntegerField": "integer"}
_UPDATES: dict[tuple[str, ...], tuple[str, list[str]]] = {}


def rows_update(rows: list[Message], names: list[str]) -> None:
    """Write ``names`` of many locked rows in one statement.

    The rows travel as one JSON parameter read by ``jsonb_to_recordset``: the SQL text stays the
    same for any batch, so psycopg parses it once; a VALUES list of 200 rows by 15 parameters was
    re-split and re-adapted on every call (a tenth of a worker's CPU).
    """
    if not rows:
        return
    key = tuple(names)
    if key not in _UPDATES:
        fields = [Message._meta.get_field(name) for name in names]
        quote = connection.ops.quote_name
        columns = ", ".join(["id text", *(f"{quote(f.column)} {_CASTS[f.get_internal_type()]}" for f in fields)])
        assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        sql = (f"UPDATE {MESSAGES} AS m SET {assignments} "  # noqa: S608
               f"FROM jsonb_to_recordset(%s::jsonb) AS v({columns}) WHERE m.id = v.id")
        _UPDATES[key] = (sql, [f.attname for f in fields])
    sql, attnames = _UPDATES[key]
    payload = json.dumps([{"id": row.pk, **{name: getattr(row, name) for name in attnames}} for row in rows],
                         default=infra.json_value)
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])


# --- receipts ----------------------------------------------------------------------------------

def messages_lock_by_carrier_id(keys: list[tuple[str, str]]) -> list[Message]:
    """Lock and load the messages with these (connector, carrier id) pairs, in id order.

    The pairs are one JSON parameter joined to the (connector, carrier id) index; an ``IN`` list
    of more than 100 literals is past what the planner matches to that partial index, and a flush
    of a few hundred receipts scanned the whole table.
    """
    db = connections[DEFAULT_DB_ALIAS]
    with pg_cursor(db) as cursor, db.wrap_database_errors:
        execute_prepared(cursor, _LOCK_BY_CARRIER_ID, [json.dumps(keys)])
        return messages_fetch(cursor)


_LOCK_BY_CARRIER_ID = (
    f"SELECT m.* FROM {MESSAGES} m WHERE (m.connector, m.carrier_message_id) IN "  # noqa: S608
    "(SELECT k->>0, k->>1 FROM jsonb_array_elements(%s::jsonb) AS k) AND m.carrier_message_id <> '' "
    "ORDER BY m.id FOR UPDATE OF m")


def orphans_take(keys: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """Delete and return the parked receipts (connector, carrier id, status, error code) of these
    keys: one statement of constant text, through the unique index."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ORPHANS} WHERE (connector, carrier_message_id) IN "  # noqa: S608
                       "(SELECT k->>0, k->>1 FROM jsonb_array_elements(%s::jsonb) AS k) "
                       "RETURNING connector, carrier_message_id, status, error_code", [json.dumps(keys)])
        return cursor.fetchall()


def orphans_adoptable(limit: int) -> list[ReceiptOrphan]:
    """Parked receipts whose message now has its carrier id, oldest first.

    Found through the (connector, carrier id) index: a filter on the carrier id alone scanned the
    whole index every second, and a table of unclaimable orphans (receipts for other platforms'
    ids) would have hidden newer ones behind them.
    """
    return list(ReceiptOrphan.objects.raw(
        f"SELECT o.* FROM {ORPHANS} o CROSS JOIN LATERAL (SELECT 1 FROM "  # noqa: S608
        f"{MESSAGES} m WHERE m.connector = o.connector AND m.carrier_message_id = "
        "o.carrier_message_id AND m.carrier_message_id <> '' LIMIT 1) AS known ORDER BY o.id LIMIT %s",
        [limit]))
