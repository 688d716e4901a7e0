"""A sendout's outbound messages written by the database: one
``INSERT INTO sms_outboundmessage (...) SELECT ...`` of every member, rendered
and decided by SQL (``sms.sqlrender``), then one aggregate over the rows written
for the totals. No row of the group is read into Python, except the sendable
ones whose text is not all of the GSM 03.38 default alphabet (a name with "ç",
"€" or an emoji: few), whose encoding and carrier segments
``sms.rules.text.encoding_info`` decides, in chunks of ``FIXUP_CHUNK``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Expression
from django.utils import timezone

from sms import sqlrender
from sms.checks import FINNISH_PREFIX
from sms.models import OutboundMessage, Sendout
from sms.rules.numbers import SkipReason
from sms.rules.text import CHARS_PER_MESSAGE, encoding_info
from sms.statuses import MessageStatus
from sms.tags import MessageTemplate
from targetgroups.models import TargetGroup

FIXUP_CHUNK = 2000
"""Messages whose carrier figures are decided in Python, per round trip."""

DECIDED = "sms_decided_members"
"""PostgreSQL: the temporary table of the members decided, for the INSERT
(dropped after it, in the Yes's transaction)."""


@dataclass
class Written:
    """What the INSERT wrote: counts for the checks, the quota and the record."""

    total: int = 0
    sendable: int = 0
    messages: int = 0
    finnish: int = 0
    skipped: Counter = field(default_factory=Counter)
    bases: Counter = field(default_factory=Counter)
    unencoded: int = 0
    """Sendable messages whose carrier figures the INSERT left blank (a text
    not all of the GSM 03.38 default alphabet)."""

    def add(
        self,
        reason: str | None,
        basis: str,
        count: int,
        billed: int,
        finnish: int,
        unencoded: int = 0,
    ) -> None:
        """One group of rows: skipped for ``reason``, or sendable (``None``)."""
        self.total += count
        if reason is not None:
            self.skipped[reason] += count
            return
        self.sendable += count
        self.messages += billed
        self.finnish += finnish
        self.bases[basis] += count
        self.unencoded += unencoded


def messages_insert(
    *,
    sendout: Sendout,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str,
    link: sqlrender.LinkExpression | None,
    suffix: Expression | None,
    codes_one_septet: bool = False,
) -> Written:
    """Write one ``OutboundMessage`` per member of the group (skipped ones with
    their reason) in one statement, and answer the totals (one aggregate over
    the rows written). The caller's transaction undoes it on a refusal.
    ``codes_one_septet``: the caller vouches that ``link`` and ``suffix`` are all
    GSM 03.38 default alphabet (``sms.sqlrender.decided_sql``)."""
    decided, params = sqlrender.decided_sql(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        link=link,
        suffix=suffix,
        codes_one_septet=codes_one_septet,
    )
    texted = ", ".join(f"'{r.value}'" for r in (SkipReason.TOO_LONG, SkipReason.DUPLICATE_NUMBER))
    sendable = "sr_reason IS NULL"
    computed = {
        "sendout_id": "%s",
        "contact_id": "id",
        "to": "sr_to",
        "body": f"CASE WHEN {sendable} OR sr_reason IN ({texted}) THEN sr_text ELSE '' END",
        "messages": (
            f"CASE WHEN {sendable} "
            f"THEN ({CHARS_PER_MESSAGE - 1} + sr_chars) / {CHARS_PER_MESSAGE} ELSE 0 END"
        ),
        "encoding": f"CASE WHEN {sendable} AND sr_one_septet = 1 THEN 'GSM-7' ELSE '' END",
        "carrier_segments": (
            f"CASE WHEN {sendable} AND sr_one_septet = 1 "
            f"THEN {sqlrender.SEPTET_SEGMENTS_SQL.format(chars='sr_chars')} ELSE 0 END"
        ),
        "status": (
            f"CASE WHEN {sendable} THEN '{MessageStatus.PENDING.value}' "
            f"ELSE '{MessageStatus.SKIPPED.value}' END"
        ),
        "reason": "COALESCE(sr_reason, '')",
        "legal_basis": "legal_basis",
    }
    # Every other column: its default, as a model instance would be saved.
    blank = OutboundMessage(sendout=sendout)
    columns, selects, head_params = [], [], []
    quote = connection.ops.quote_name
    for model_field in OutboundMessage._meta.concrete_fields:
        if model_field.primary_key:
            continue
        columns.append(quote(model_field.column))
        if model_field.column in computed:
            selects.append(computed[model_field.column])
            if model_field.column == "sendout_id":
                head_params.append(sendout.pk)
        else:
            value = model_field.pre_save(blank, add=True)
            selects.append("%s")
            head_params.append(model_field.get_db_prep_save(value, connection))
    table = quote(OutboundMessage._meta.db_table)
    insert = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(selects)} FROM"
    with connection.cursor() as cursor:
        sqlrender.jit_off(cursor)  # inside the sendout's transaction
        contacts_hold(cursor, organisation_id=target_group.organisation_id)
        if connection.vendor == "postgresql" and _may_create_temporary_tables(cursor):
            # PostgreSQL plans no parallel workers for an INSERT ... SELECT, but
            # does for a CREATE TABLE ... AS: the members are decided there, by
            # as many processes as it gives, then written from that table.
            cursor.execute(f"CREATE TEMPORARY TABLE {DECIDED} AS {decided}", params)
            cursor.execute(f"{insert} {DECIDED} q ORDER BY id", head_params)
            cursor.execute(f"DROP TABLE {DECIDED}")
        else:
            cursor.execute(f"{insert} ({decided}) q ORDER BY id", (*head_params, *params))
        written = _written(cursor, sendout_id=sendout.pk)
    if written.unencoded:
        _carrier_figures_fix(sendout_id=sendout.pk)
    return written


def messages_tally(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str,
    link: sqlrender.LinkExpression | None,
    suffix: Expression | None,
    codes_one_septet: bool = False,
) -> Written:
    """The totals ``messages_insert`` would answer, from one aggregate over the
    same decision, writing nothing. ``link`` and ``suffix`` may stand for every
    recipient's by one of the same length (``sms.sendouts.write``)."""
    decided, params = sqlrender.decided_sql(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        link=link,
        suffix=suffix,
        all_texts=False,
        codes_one_septet=codes_one_septet,
    )
    sql = f"""
        SELECT sr_reason, legal_basis, COUNT(*),
            SUM(({CHARS_PER_MESSAGE - 1} + sr_chars) / {CHARS_PER_MESSAGE}),
            SUM(CASE WHEN SUBSTR(sr_to, 1, {len(FINNISH_PREFIX)}) = %s THEN 1 ELSE 0 END)
        FROM ({decided}) q
        GROUP BY 1, 2
    """
    written = Written()
    with connection.cursor() as cursor:
        sqlrender.jit_off(cursor)  # inside the sendout's transaction
        cursor.execute(sql, (FINNISH_PREFIX, *params))
        rows = cursor.fetchall()
    for reason, basis, count, billed, finnish in rows:
        written.add(reason, basis, count, billed, finnish)
    return written


def _may_create_temporary_tables(cursor) -> bool:
    """Whether the database role may create temporary tables (PostgreSQL grants
    it to everyone unless an administrator revoked it): without, the messages
    are written by one ``INSERT ... SELECT``, in one process."""
    cursor.execute("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
    return cursor.fetchone()[0]


CONTACTS_LOCK = 210019
"""The first key of an organisation's contacts lock: the trigger of migration
``sms/0019`` takes it (exclusive) before a contact is deleted."""


def contacts_hold(cursor, *, organisation_id: int) -> None:
    """Hold the organisation's contacts lock shared until the transaction ends
    (PostgreSQL): a contact being deleted (the trigger of migration ``sms/0019``
    takes the lock exclusive) is gone before the INSERT reads the members, and
    one deleted while the INSERT's rows are uncommitted waits for them and then
    blanks their contact, as the dropped foreign key constraint guaranteed.
    Yeses of the organisation do not wait for each other."""
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, %s)",
            (CONTACTS_LOCK, organisation_id % 2147483647),
        )


def _written(cursor, *, sendout_id: int) -> Written:
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    cursor.execute(
        f"""
        SELECT status, reason, legal_basis, COUNT(*), SUM(messages),
            SUM(CASE WHEN SUBSTR("to", 1, {len(FINNISH_PREFIX)}) = %s THEN 1 ELSE 0 END),
            SUM(CASE WHEN encoding = '' THEN 1 ELSE 0 END)
        FROM {table} WHERE sendout_id = %s
        GROUP BY status, reason, legal_basis
        """,
        (FINNISH_PREFIX, sendout_id),
    )
    written = Written()
    rows = cursor.fetchall()
    for status, reason, basis, count, billed, finnish, unencoded in rows:
        skipped = reason if status == MessageStatus.SKIPPED else None
        written.add(skipped, basis, count, billed, finnish, unencoded)
    return written


def _carrier_figures_fix(*, sendout_id: int) -> None:
    """Encoding and carrier segments of the sendable texts that are not all of the
    GSM 03.38 default alphabet (written blank by the INSERT): ``encoding_info``
    of each, in chunks, one UPDATE per distinct answer."""
    pending = OutboundMessage.objects.filter(
        sendout_id=sendout_id, status=MessageStatus.PENDING, encoding=""
    )
    last = 0
    while True:
        rows = list(
            pending.filter(pk__gt=last).order_by("pk").values_list("pk", "body")[:FIXUP_CHUNK]
        )
        if not rows:
            return
        last = rows[-1][0]
        by_figures: dict[tuple[str, int], list[int]] = {}
        for pk, body in rows:
            info = encoding_info(body)
            by_figures.setdefault((info.encoding, info.carrier_segments), []).append(pk)
        for (encoding, segments), pks in by_figures.items():
            OutboundMessage.objects.filter(pk__in=pks).update(
                encoding=encoding, carrier_segments=segments, updated_at=timezone.now()
            )
