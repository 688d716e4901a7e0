"""SQL rendering and deciding (``sms.sqlrender``) pinned to the Python renderer.

Random contacts (names with emoji, "ç", "€" and the other GSM extension
characters, empty fields, CRLF, long values, duplicate numbers, fixed lines,
numbers never normalised, opted out, suppressed, each legal basis) and random
templates (tags with fallbacks, links, literals) are resolved both ways, and
every row must agree: text, length, billed messages, encoding, segments, reason,
and the row the INSERT of a sendout's messages writes.
Runs on whichever database the suite runs on (SQLite and PostgreSQL in CI)."""

from collections import Counter

import pytest
from django.db import connection, transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Cast, Coalesce, LPad, NullIf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.legal import LegalBasis
from crm.models import Account, Contact
from sms import sqlrender
from sms.links import link_for
from sms.models import OutboundMessage, SmsSettings, SuppressedNumber, SuppressionSource
from sms.optout import optout_for
from sms.recipients import (
    recipients_resolve,
    recipients_resolve_sql,
    recipients_summarise,
    recipients_summarise_python,
)
from sms.rules.numbers import SkipReason
from sms.rules.purposes import Purpose
from sms.sendouts.insert import messages_insert
from sms.statuses import MessageStatus
from sms.tags import TAGS, TemplateError, parse_template
from targetgroups.selectors import target_group_members
from tests.factories import (
    ContactFactory,
    SendoutFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
    create_sendout,
)

pytestmark = pytest.mark.django_db

PIECES = [
    *"aZ ÄöåÉçñΩ€^{}[]~|\\%'\"_-.",
    "😀",
    "👍🏽",
    "\r\n",
    "\r",
    "\n",
    "\t",
    "\x0c",
    "\u00a0",
    "\u3000",
    "Hei",
]
values = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=10).map("".join),
    st.sampled_from(["", " ", " \r\n ", "A" * 100, "ç" * 90 + "😀"]),
)
PHONES = [
    "+358 40 123 4567",
    "+358401234567",  # the same number written otherwise
    "00358 40 123 4567",
    "+358 50 765 4321",
    "+46 70 123 45 67",
    "+358 9 1234 5678",  # a fixed line: not a mobile
    "+1 800 555 0100",  # toll-free: not a mobile
    "040 123 4567",  # no country code
    "+358 12",  # invalid
    "",
]
SUPPRESSABLE = ["+358401234567", "+358507654321", "+358912345678"]

contacts = st.lists(
    st.fixed_dictionaries(
        {
            "first_name": values,
            "last_name": values,
            "title": values,
            "email": values,
            "city": values,
            "mobile_phone": st.sampled_from(PHONES),
            "work_phone": st.sampled_from(PHONES),
            "sms_opt_out": st.booleans(),
            "legal_basis": st.sampled_from(LegalBasis.values),
            "account": st.one_of(st.none(), st.integers(0, 1)),
            "unnormalised": st.booleans(),
        }
    ),
    min_size=1,
    max_size=10,
)
accounts = st.lists(
    st.fixed_dictionaries({"name": values, "city": values, "industry": values}),
    min_size=2,
    max_size=2,
)
literal = st.lists(
    st.sampled_from([p for p in PIECES if p not in "{}|"] + ["x" * 40]), max_size=6
).map("".join)
fallback = st.lists(st.sampled_from([p for p in PIECES if p not in "{}|"]), max_size=4).map("".join)
tag = st.builds(
    lambda path, fb: "{{" + path + ("|" + fb if fb is not None else "") + "}}",
    st.sampled_from([t.path for t in TAGS]),
    st.one_of(st.none(), fallback),
)
url = st.sampled_from(["https://example.com/a", " https://x.fi/?q=1 "])
templates = st.lists(st.one_of(literal, tag, url), min_size=1, max_size=7).map("".join)


def link_python(contact_id: int, index: int) -> str:
    return f"https://s.fi/l/{index}{contact_id:08d}"


def link_sql(index: int):
    return sqlrender._Concat(
        sqlrender.text_value(f"https://s.fi/l/{index}"),
        LPad(Cast(F("id"), TextField()), 8, Value("0")),
    )


def suffix_python(contact_id: int, code: str) -> str:
    """A stand-in of the opt-out link: the contact's id and opt-out code, or 8
    other characters without one (every recipient's has the same length)."""
    return f"\nSTOP {contact_id:08d}{code or 'no-code!'}"


SUFFIX_SQL = sqlrender._Concat(
    sqlrender.text_value("\nSTOP "),
    LPad(Cast(F("id"), TextField()), 8, Value("0")),
    Coalesce(NullIf(F("optout_code"), Value("")), Value("no-code!")),
)


def _create(org, people, companies, suppressed):
    made = [Account.objects.create(organisation=org, **company) for company in companies]
    rows = []
    for person in people:
        person = dict(person)
        account = person.pop("account")
        unnormalised = person.pop("unnormalised")
        contact = Contact(
            organisation=org, account=None if account is None else made[account], **person
        )
        if unnormalised:
            # Written past the ORM: neither a normalised number nor an opt-out code.
            contact.optout_code = ""
        else:
            contact.normalise_phones()
        rows.append(contact)
    Contact.objects.bulk_create(rows)
    for number in suppressed:
        SuppressedNumber.objects.create(
            organisation=org, number=number, source=SuppressionSource.ADMIN
        )
    return TargetGroupFactory(organisation=org, included_contacts=rows)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=contacts,
    companies=accounts,
    suppressed=st.lists(st.sampled_from(SUPPRESSABLE), unique=True),
    body=templates,
    track=st.booleans(),
    optout=st.booleans(),
    purpose=st.sampled_from(Purpose.values),
    phone_field=st.sampled_from(["mobile_phone", "work_phone"]),
)
def test_sql_decides_every_row_as_python_does(
    org, people, companies, suppressed, body, track, optout, purpose, phone_field
):
    try:
        template = parse_template(body)
    except TemplateError:
        return
    if track:
        template = template.track_links()
    tracked = bool(template.links)
    with transaction.atomic():
        group = _create(org, people, companies, suppressed)
        args = {
            "target_group": group,
            "phone_field": phone_field,
            "template": template,
            "purpose": purpose,
        }
        python_args = args | {
            "suffix": suffix_python if optout else None,
            "link": link_python if tracked else None,
        }
        expected = list(recipients_resolve(**python_args))
        expected_summary = recipients_summarise_python(**python_args)
        got = recipients_resolve_sql(
            **args, suffix=SUFFIX_SQL if optout else None, link=link_sql if tracked else None
        )
        summary = recipients_summarise(**python_args)
        sendout = SendoutFactory(organisation=org, target_group=group)
        written = messages_insert(
            sendout=sendout,
            **args,
            suffix=SUFFIX_SQL if optout else None,
            link=link_sql if tracked else None,
            codes_one_septet=True,  # the test's links and suffix are ASCII
        )
        inserted = list(
            OutboundMessage.objects.filter(sendout=sendout)
            .order_by("id")
            .values_list(*MESSAGE_FIELDS)
        )
        transaction.set_rollback(True)
    assert got == expected
    assert summary == expected_summary
    assert inserted == [_message(r) for r in expected]
    sendable = [r for r in expected if r.sendable]
    assert (written.total, written.sendable, written.messages) == (
        len(expected),
        len(sendable),
        sum(r.messages for r in sendable),
    )
    assert written.finnish == sum(1 for r in sendable if r.to.startswith("+358"))
    assert written.skipped == Counter(r.reason.value for r in expected if not r.sendable)
    assert written.bases == Counter(r.legal_basis for r in sendable)


MESSAGE_FIELDS = (
    "contact_id",
    "to",
    "body",
    "messages",
    "encoding",
    "carrier_segments",
    "status",
    "reason",
    "legal_basis",
)


def _message(r):
    """The row ``sendout_create`` wrote for a recipient before the INSERT."""
    return (
        r.contact_id,
        r.to,
        r.body,
        r.messages,
        r.encoding,
        r.carrier_segments,
        MessageStatus.PENDING if r.sendable else MessageStatus.SKIPPED,
        r.reason.value if r.reason else "",
        r.legal_basis,
    )


def test_sql_renders_whitespace_fallbacks_and_names_as_python(org):
    people = [
        {"first_name": " \u3000Ça\r\nva\r ", "last_name": "\t"},
        {"first_name": "", "last_name": " Virtanen€ "},
        {"first_name": "😀", "last_name": "Ö"},
        {"first_name": "\r\n", "last_name": ""},
    ]
    people = [
        p
        | {
            "mobile_phone": f"+358 40 100 000{i}",
            "legal_basis": "consent",
            "sms_opt_out": False,
            "account": None,
            "unnormalised": False,
            "title": "",
            "email": "",
            "city": "",
        }
        for i, p in enumerate(people)
    ]
    group = _create(org, people, [], [])
    template = parse_template(
        "Hei {{ contact.full_name | ystävä }}!\r\n{{contact.first_name}}/{{account.name|Oy}}"
    )
    args = {
        "target_group": group,
        "phone_field": "mobile_phone",
        "template": template,
        "purpose": "service",
    }
    got = recipients_resolve_sql(**args)
    assert [r.body for r in got] == [
        "Hei Ça\nva!\nÇa\nva/Oy",
        "Hei Virtanen€!\n/Oy",
        "Hei 😀 Ö!\n😀/Oy",
        "Hei ystävä!\n/Oy",
    ]
    assert got == list(recipients_resolve(**args))
    assert [(r.encoding, r.carrier_segments, r.chars) for r in got][2] == ("UCS-2", 1, 13)


def test_a_number_never_normalised_is_normalised_and_stored(org):
    group = _create(
        org,
        [
            {
                "first_name": "Raw",
                "mobile_phone": "+358 9 1234 5678",
                "legal_basis": "consent",
                "account": None,
                "unnormalised": True,
            }
        ],
        [],
        [],
    )
    got = recipients_resolve_sql(
        target_group=group,
        phone_field="mobile_phone",
        template=parse_template("Hei"),
        purpose="service",
    )
    assert [(r.to, r.reason) for r in got] == [("+358912345678", SkipReason.NOT_MOBILE)]
    stored = Contact.objects.values_list(
        "mobile_phone_e164", "mobile_phone_problem", "mobile_phone_not_mobile"
    ).get()
    assert stored == ("+358912345678", "", True)


def test_the_yes_writes_what_python_renders_with_its_links_and_opt_out(settings, org, user):
    """``sendout_create`` with short links and the opt-out link (``sms.sqlcodes``
    in the INSERT): every row as the Python renderer writes it with the sendout's
    ``link_for`` and ``optout_for``, and the record and quota from the totals."""
    settings.SMS_OPTOUT_IN_TEXT = True
    settings.SMS_SHORT_LINK_BASE_URL = "https://s.example.fi"
    SmsSettingsFactory(organisation=org, quota=1000)
    people = [
        ("Aino", "+358 40 100 0001", False),
        ("Çé😀", "+358 40 100 0002", False),  # UCS-2
        ("€uro", "+358 40 100 0003", False),  # a GSM-7 extension character
        ("L" * 100, "+358 40 100 0004", False),  # too long with the links
        ("Twin", "+358401000001", False),  # Aino's number
        ("Out", "+358 40 100 0005", True),
        ("Fixed", "+358 9 1234 5678", False),
        ("Nobody", "", False),
    ]
    contacts = [
        ContactFactory(
            organisation=org, first_name=name, mobile_phone=phone, sms_opt_out=out, blank=True
        )
        for name, phone, out in people
    ]
    group = TargetGroupFactory(organisation=org, included_contacts=contacts)
    body = "x" * 250 + " {{contact.first_name|ystävä}} https://example.com/tarjous ja https://a.fi"
    sendout = create_sendout(target_group=group, created_by=user, body=body)

    expected = list(
        recipients_resolve(
            target_group=group,
            phone_field="mobile_phone",
            template=parse_template(body).track_links(),
            purpose=sendout.purpose,
            suffix=optout_for(
                sms_settings=SmsSettings.objects.get(organisation=org),
                sender=sendout.sender,
                purpose=sendout.purpose,
                sendout_id=sendout.pk,
            ).suffix,
            link=link_for(sendout_id=sendout.pk),
        )
    )
    rows = list(sendout.messages.order_by("id").values_list(*MESSAGE_FIELDS))
    assert rows == [_message(r) for r in expected]
    assert [r.reason for r in expected] == [
        None,
        None,
        None,
        SkipReason.TOO_LONG,
        SkipReason.DUPLICATE_NUMBER,
        SkipReason.OPTED_OUT,
        SkipReason.NOT_MOBILE,
        SkipReason.MISSING_NUMBER,
    ]
    assert [r.encoding for r in expected[:3]] == ["GSM-7", "UCS-2", "GSM-7"]
    billed = sum(r.messages for r in expected)
    assert sendout.record["messages"] == billed
    assert sendout.record["recipients"] == {
        "total": 8,
        "sendable": 3,
        "skipped": {
            "duplicate_number": 1,
            "missing_number": 1,
            "not_mobile": 1,
            "opted_out": 1,
            "too_long": 1,
        },
    }
    assert SmsSettings.objects.get(organisation=org).quota_balance == 1000 - billed


# --- The plan on PostgreSQL ------------------------------------------------------------


def _plan(group, template: str, *, workers: int) -> str:
    """EXPLAIN VERBOSE of the members' SELECT. With ``workers``, parallel workers
    are made free and the contacts (a small table here) get that many and the
    statistics of a large table, so that the planner puts below the Gather all
    it may: what a group of 1,000,000 makes it do."""
    sql, params = sqlrender.decided_sql(
        target_group=group,
        phone_field="mobile_phone",
        template=parse_template(template),
        purpose=Purpose.MARKETING,
        suffix=sqlrender.text_value("\nStop: x"),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL max_parallel_workers_per_gather = {workers}")
        if workers:
            for setting in (
                "parallel_setup_cost = 0",
                "parallel_tuple_cost = 0",
                "enable_indexscan = off",
                "enable_bitmapscan = off",
            ):
                cursor.execute(f"SET LOCAL {setting}")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks: ALTER may run
            cursor.execute(f"ALTER TABLE crm_contact SET (parallel_workers = {workers})")
            # Statistics as of a large table (the tests run as a superuser).
            cursor.execute(
                "UPDATE pg_class SET reltuples = 1000000, relpages = 1"
                " WHERE oid = 'crm_contact'::regclass"
            )
        cursor.execute(f"EXPLAIN (VERBOSE) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


@pytest.mark.postgres
def test_the_members_are_rendered_and_decided_in_parallel_workers(org):
    """Everything below the duplicate-number window (each value, the text, its
    length, the GSM test, the suppression list) may run in PostgreSQL's
    parallel workers: an ``OFFSET 0`` fence or a correlated subquery (EXISTS per
    row) would keep it in one process."""
    ContactFactory.create_batch(3, organisation=org, city="Parallel")
    SuppressedNumber.objects.create(
        organisation=org, number="+358401234567", source=SuppressionSource.ADMIN
    )
    group = TargetGroupFactory(
        organisation=org,
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Parallel"}],
    )
    plan = _plan(group, "Hei {{contact.first_name|ystävä}}!", workers=2)
    under = plan[plan.index("Gather") :]
    assert "Parallel Seq Scan on public.crm_contact" in under
    # The level that computes the text's length and the GSM test is in the workers.
    assert "Subquery Scan on e" in under


@pytest.mark.postgres
def test_each_value_is_rendered_once_a_row(org):
    """The fences hold: a tag's value (its BTRIM) appears once in the plan, not
    inlined into the text, its length and the GSM test."""
    ContactFactory.create_batch(2, organisation=org, city="Once")
    group = TargetGroupFactory(
        organisation=org,
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Once"}],
    )
    plan = _plan(group, "Hei {{contact.first_name|ystävä}} ja {{contact.last_name}}!", workers=0)
    assert plan.lower().count("btrim(") == 2


@pytest.mark.postgres
@pytest.mark.parametrize("phone_field", ["mobile_phone", "work_phone"])
def test_the_numbers_never_normalised_are_found_by_their_index_not_a_scan(org, phone_field):
    """The look for members never normalised (``phones_store_unnormalised``, first
    in every preview and sendout) may use the partial index of migration
    ``crm/0009``: the group's conditions imply its predicate."""
    ContactFactory.create_batch(3, organisation=org, title="Indexed")
    group = TargetGroupFactory(  # a condition no other index serves
        organisation=org,
        conditions=[{"field": "contact.title", "operator": "equals", "value": "Indexed"}],
    )
    members = target_group_members(target_group=group).filter(
        **{f"{phone_field}_e164": "", f"{phone_field}_problem": ""}
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        query = members.order_by().values_list("id", phone_field).query  # as it looks
        sql, params = query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"contact_{phone_field}_raw" in plan
