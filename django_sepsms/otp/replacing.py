"""How a new code replaces the earlier ones of its number and purpose.

The new code is inserted and the codes it replaces are cancelled in one statement
where the database can, so that a code request keeps to its query budget.
"""

from __future__ import annotations

from django.db import DatabaseError, connections, router
from django.db.models import QuerySet
from django.db.models.signals import post_save, pre_save

from ..models import OtpChallenge

#: The statuses of a code that a new one replaces (cancels).
REPLACEABLE = (OtpChallenge.Status.PENDING, OtpChallenge.Status.UNCONFIRMED)


def replaceable(phone: str, purpose: str) -> QuerySet[OtpChallenge]:
    """The earlier codes of ``phone`` and ``purpose`` that a new code cancels."""
    return OtpChallenge.objects.filter(phone=phone, purpose=purpose, status__in=REPLACEABLE)


def save_replacing_earlier(challenge: OtpChallenge, replace_earlier: bool) -> None:
    """Insert ``challenge``; the earlier codes of its number and purpose are cancelled."""
    if not replace_earlier:
        challenge.save(force_insert=True)
    elif not _insert_cancelling_earlier(challenge):
        replaceable(challenge.phone, challenge.purpose).update(
            status=OtpChallenge.Status.CANCELLED
        )
        challenge.save(force_insert=True)


#: Inserts the new code and cancels the earlier ones in one statement: the earlier
#: rows are proposed again under their own ids, and their conflict on the primary
#: key becomes the cancelling ``UPDATE`` (still only of a code pending right then).
_INSERT_CANCELLING = """
INSERT INTO {table} ({pk}, {columns})
SELECT {new_pk}, {values}
UNION ALL
SELECT {pk}, {columns} FROM {table}
WHERE {phone} = %s AND {purpose} = %s AND {status} IN (%s, %s)
ON CONFLICT ({pk}) DO UPDATE SET {status} = %s WHERE {table}.{status} IN (%s, %s)
RETURNING {pk}, {status}
"""


def _insert_cancelling_earlier(challenge: OtpChallenge) -> bool:
    """Insert ``challenge`` and cancel the earlier codes in one statement, where the
    database can (PostgreSQL, SQLite 3.35+); False, having done nothing, elsewhere."""
    db = router.db_for_write(OtpChallenge)
    connection = connections[db]
    if connection.vendor not in ("postgresql", "sqlite"):
        return False
    if not connection.features.can_return_columns_from_insert:
        return False
    if pre_save.has_listeners(OtpChallenge) or post_save.has_listeners(OtpChallenge):
        return False  # the project listens for saves: save() sends them
    opts = OtpChallenge._meta
    quote = connection.ops.quote_name
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    table = quote(opts.db_table)
    pk = quote(str(opts.pk.column))
    if connection.vendor == "postgresql":
        # Typed, so that the two halves of the UNION agree whatever the binding.
        values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
        new_pk = f"nextval(pg_get_serial_sequence('{opts.db_table}', '{opts.pk.column}'))"
    else:
        values, new_pk = ", ".join(["%s"] * len(fields)), "NULL"  # NULL: the next rowid
    # Only identifiers from the model's own metadata are formatted in.
    sql = _INSERT_CANCELLING.format(
        table=table,
        pk=pk,
        new_pk=new_pk,
        columns=", ".join(quote(str(f.column)) for f in fields),
        values=values,
        phone=quote("phone"),
        purpose=quote("purpose"),
        status=quote("status"),
    )
    live = [str(s) for s in REPLACEABLE]
    cancelled = str(OtpChallenge.Status.CANCELLED)
    params = [f.get_db_prep_save(f.pre_save(challenge, True), connection) for f in fields]
    params += [challenge.phone, challenge.purpose, *live, cancelled, *live]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    new = [row_pk for row_pk, status in rows if status != cancelled]
    if len(new) != 1:  # never: only the new row is not cancelled
        raise DatabaseError("the new code's row was not inserted")
    challenge.pk = new[0]
    challenge._state.adding, challenge._state.db = False, db
    return True
