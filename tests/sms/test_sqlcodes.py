"""The per-recipient codes computed by the database (#21, ``sms.sqlcodes``):
byte for byte the Python oracle's (``link_code``, ``optout_token``) on the
database the suite runs on, SQLite or PostgreSQL; the migration that creates
the PostgreSQL functions applies and reverses; and an id past a code's range
refuses the sendout (409, nothing written) instead of a 500."""

import pytest
from django.core.management import call_command
from django.db import DataError, OperationalError, ProgrammingError, connection
from django.db.models import F, Value
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.models import Contact, Organisation
from sms.links import link_for
from sms.models import OutboundMessage, Sendout
from sms.optout import ALPHABET, MAX_ID, TOKEN_LENGTH, Optout, optout_for, optout_token
from sms.rules.links import (
    CODE_LENGTH,
    MAX_CONTACT_ID,
    MAX_LINKS,
    MAX_SENDOUT_ID,
    CodeRangeError,
    link_code,
)
from sms.rules.purposes import Purpose
from sms.rules.senders import OPERATOR_SENDER
from sms.sqlcodes import (
    LinkCode,
    OptoutToken,
    code_ids_or_refuse,
    optout_pads,
    optout_suffix,
    short_link,
)
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db

# Keys as SECRET_KEY may be: ASCII, non-ASCII, NUL, longer than HMAC's block.
keys = st.one_of(
    st.text(min_size=1, max_size=80),
    st.sampled_from(["k", "ääkkösiä €", "x" * 64, "y" * 200, "\x00nul", "🔑" * 20]),
)
sendout_ids = st.one_of(st.integers(0, MAX_SENDOUT_ID), st.sampled_from([0, MAX_SENDOUT_ID]))
contact_ids = st.one_of(st.integers(0, MAX_CONTACT_ID), st.sampled_from([0, MAX_CONTACT_ID]))
indexes = st.integers(0, MAX_LINKS - 1)
token_ids = st.one_of(st.integers(0, MAX_ID), st.sampled_from([0, 1, MAX_ID]))

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def in_sql(**expressions):
    """The values of ``expressions`` computed by the database in one query."""
    row = Organisation.objects.annotate(**expressions).values(*expressions).first()
    assert row is not None, "needs a row to select from"
    return row


@pytest.fixture
def a_row(org) -> Organisation:
    return org


@PROPERTY
@given(
    key=keys,
    triples=st.lists(st.tuples(sendout_ids, contact_ids, indexes), min_size=1, max_size=12),
)
def test_link_codes_in_sql_are_the_python_codes(a_row, key, triples):
    with override_settings(SECRET_KEY=key):
        got = in_sql(
            **{
                f"c{n}": LinkCode(Value(sendout_id), Value(contact_id), Value(index))
                for n, (sendout_id, contact_id, index) in enumerate(triples)
            }
        )
    for n, (sendout_id, contact_id, index) in enumerate(triples):
        expected = link_code(key=key, sendout_id=sendout_id, contact_id=contact_id, index=index)
        assert got[f"c{n}"] == expected
        assert len(expected) == CODE_LENGTH


@PROPERTY
@given(key=keys, pairs=st.lists(st.tuples(token_ids, token_ids), min_size=1, max_size=12))
def test_optout_tokens_in_sql_are_the_python_tokens(a_row, key, pairs):
    with override_settings(SECRET_KEY=key):
        got = in_sql(
            **{
                f"t{n}": OptoutToken(Value(sendout_id), Value(contact_id))
                for n, (sendout_id, contact_id) in enumerate(pairs)
            }
        )
        for n, (sendout_id, contact_id) in enumerate(pairs):
            expected = optout_token(sendout_id=sendout_id, contact_id=contact_id)
            assert got[f"t{n}"] == expected
            assert len(expected) == TOKEN_LENGTH


@PROPERTY
@given(
    pairs=st.lists(
        st.tuples(token_ids, st.text(alphabet=ALPHABET, min_size=8, max_size=8)),
        min_size=1,
        max_size=12,
    )
)
def test_optout_suffixes_with_a_code_in_sql_are_the_python_suffixes(a_row, settings, pairs):
    settings.SMS_OPTOUT_IN_TEXT = True
    optout = optout_for(
        sms_settings=SmsSettingsFactory.build(optout_by_reply=False),
        sender=OPERATOR_SENDER,
        purpose=Purpose.MARKETING,
        sendout_id=MAX_ID,
    )
    got = in_sql(
        **{
            f"t{n}": optout_suffix(
                optout, sendout_id=Value(MAX_ID), contact_id=Value(contact_id), code=Value(code)
            )
            for n, (contact_id, code) in enumerate(pairs)
        }
    )
    for n, (contact_id, code) in enumerate(pairs):
        assert got[f"t{n}"] == optout.suffix(contact_id, code)


def test_the_key_is_read_when_the_query_runs_so_a_rotated_key_changes_the_codes(a_row):
    query = Organisation.objects.annotate(
        code=LinkCode(Value(7), Value(8), Value(0)), token=OptoutToken(Value(7), Value(8))
    ).values_list("code", "token")
    with override_settings(SECRET_KEY="first"):
        first = query.get()
        assert first == (
            link_code(key="first", sendout_id=7, contact_id=8, index=0),
            optout_token(sendout_id=7, contact_id=8),
        )
    with override_settings(SECRET_KEY="second"):
        second = query.get()
        assert second[0] == link_code(key="second", sendout_id=7, contact_id=8, index=0)
    assert first[0] != second[0] and first[1] != second[1]


def test_codes_of_every_contact_from_its_column(org, settings):
    settings.SMS_SHORT_LINK_BASE_URL = "https://ex.fi"
    ContactFactory.create_batch(3, organisation=org)
    ContactFactory(organisation=org, id=MAX_CONTACT_ID)  # the largest with a short link
    ContactFactory(organisation=org, id=MAX_ID)  # the largest with an opt-out token
    tokens = Contact.objects.annotate(token=OptoutToken(Value(42), F("pk")))
    assert len(tokens) == 5
    for contact in tokens:
        assert contact.token == optout_token(sendout_id=42, contact_id=contact.pk)
    rows = (
        Contact.objects.filter(id__lte=MAX_CONTACT_ID)
        .annotate(
            code=LinkCode(Value(42), F("id"), Value(3)),
            link=short_link(Value(42), F("id"), Value(1)),
            token=OptoutToken(Value(42), F("pk")),
        )
        .values_list("id", "code", "link", "token")
    )
    python_link = link_for(sendout_id=42)
    assert len(rows) == 4
    for contact_id, code, link, token in rows:
        assert code == link_code(
            key=settings.SECRET_KEY, sendout_id=42, contact_id=contact_id, index=3
        )
        assert link == python_link(contact_id, 1)
        assert token == optout_token(sendout_id=42, contact_id=contact_id)


@pytest.mark.parametrize("by_reply", [False, True])
@pytest.mark.parametrize("purpose", [Purpose.MARKETING, Purpose.SERVICE])
def test_optout_suffix_in_sql_is_the_suffix_of_optout_for(org, settings, by_reply, purpose):
    settings.SMS_OPTOUT_IN_TEXT = True
    settings.SMS_SHORT_LINK_BASE_URL = "https://s.example.fi"
    sms_settings = SmsSettingsFactory(organisation=org, optout_by_reply=by_reply)
    ContactFactory.create_batch(3, organisation=org)
    # One written past the ORM, without a code: its token is the keyed hash.
    ContactFactory(organisation=org, id=MAX_ID)
    Contact.objects.filter(id=MAX_ID).update(optout_code="")
    optout = optout_for(
        sms_settings=sms_settings,
        sender=OPERATOR_SENDER,
        purpose=purpose,
        sendout_id=99,
    )
    rows = Contact.objects.annotate(
        suffix=optout_suffix(optout, sendout_id=Value(99), contact_id=F("id"))
    ).values_list("id", "optout_code", "suffix")
    assert len(rows) == 4
    for contact_id, code, suffix in rows:
        assert suffix == optout.suffix(contact_id, code)
        assert len(suffix) == optout.chars
        if optout.style == "link":
            token = optout_token(sendout_id=99, contact_id=contact_id, code=code)
            assert suffix.endswith(token)
            assert suffix.endswith(code) if code else contact_id == MAX_ID
    expected_style = "" if purpose == Purpose.SERVICE else ("reply" if by_reply else "link")
    assert optout.style == expected_style


def test_a_null_id_gives_null_as_the_functions_are_strict(a_row):
    got = in_sql(code=LinkCode(Value(None), Value(1), Value(0)), token=OptoutToken(Value(1), None))
    assert got == {"code": None, "token": None}


LINK = Optout("link", lambda contact_id, code="": "\nStop " + "0" * TOKEN_LENGTH, TOKEN_LENGTH + 6)
CODE = Value("Ab3dE5gH")


@pytest.mark.parametrize(
    "code",
    [
        lambda: LinkCode(Value(MAX_SENDOUT_ID + 1), Value(1), Value(0)),
        lambda: LinkCode(Value(1), Value(MAX_CONTACT_ID + 1), Value(0)),
        lambda: LinkCode(Value(1), Value(1), Value(MAX_LINKS)),
        lambda: LinkCode(Value(-1), Value(1), Value(0)),
        lambda: OptoutToken(Value(MAX_ID + 1), Value(1)),
        lambda: OptoutToken(Value(1), Value(-1)),
        lambda: optout_suffix(LINK, sendout_id=Value(1), contact_id=Value(MAX_ID + 1), code=CODE),
        lambda: optout_suffix(LINK, sendout_id=Value(1), contact_id=Value(-1), code=CODE),
    ],
)
def test_an_id_past_its_range_is_a_database_error_never_a_wrong_code(a_row, code):
    with pytest.raises((DataError, OperationalError)):
        in_sql(code=code())


# --- the migration ---------------------------------------------------------------------


def _functions() -> set[str]:
    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'sms\\_%%'")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_migration_applies_and_reverses(org):
    postgres = connection.vendor == "postgresql"
    assert _functions() >= ({"sms_link_code", "sms_optout_token"} if postgres else set())
    if postgres:  # cheap to plan around, usable by parallel workers
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT provolatile, proparallel, proisstrict FROM pg_proc"
                " WHERE proname IN ('sms_link_code', 'sms_optout_token')"
            )
            assert cursor.fetchall() == [("i", "s", True)]
    call_command("migrate", "sms", "0015_replies", verbosity=0)
    assert not _functions() & {"sms_link_code", "sms_optout_token"}
    if postgres:
        with pytest.raises(ProgrammingError, match="sms_link_code"):
            in_sql(code=LinkCode(Value(1), Value(2), Value(0)))
    call_command("migrate", "sms", verbosity=0)
    assert _functions() >= ({"sms_link_code", "sms_optout_token"} if postgres else set())
    assert in_sql(code=LinkCode(Value(1), Value(2), Value(0)))["code"] == link_code(
        key=_secret(), sendout_id=1, contact_id=2, index=0
    )


def _secret() -> str:
    from django.conf import settings as django_settings

    return django_settings.SECRET_KEY


# --- ids past the codes: a refusal, not a 500 --------------------------------------------


def test_the_pads_are_hmacs_own():
    import hashlib
    import hmac

    for secret in ["k", "ä" * 40, "z" * 70]:
        ipad, opad = optout_pads(secret)
        key = secret.encode() + b"/sms-optout"
        inner = hashlib.sha256(ipad + b"1:2").digest()
        assert hashlib.sha256(opad + inner).digest() == hmac.digest(key, b"1:2", "sha256")


def test_code_ids_or_refuse_names_the_limits():
    code_ids_or_refuse(
        sendout_id=MAX_SENDOUT_ID, contact_id_max=MAX_CONTACT_ID, links=True, optout=True
    )
    code_ids_or_refuse(sendout_id=MAX_ID, contact_id_max=MAX_ID, links=False, optout=True)
    code_ids_or_refuse(sendout_id=MAX_ID + 1, contact_id_max=None, links=False, optout=False)
    code_ids_or_refuse(sendout_id=1, contact_id_max=None, links=True, optout=True)
    for sendout_id, contact_id_max, links, optout in [
        (MAX_SENDOUT_ID + 1, 1, True, False),
        (1, MAX_CONTACT_ID + 1, True, False),
        (MAX_ID + 1, 1, False, True),
        (1, MAX_ID + 1, False, True),
    ]:
        with pytest.raises(CodeRangeError) as refused:
            code_ids_or_refuse(
                sendout_id=sendout_id, contact_id_max=contact_id_max, links=links, optout=optout
            )
        assert refused.value.code == "ids_beyond_codes" and refused.value.status_code == 409
        assert isinstance(refused.value, ValueError)  # as before, to code computing codes


@pytest.fixture
def next_sendout_id(db):
    """``next_sendout_id(first)``: the next sendout's id is ``first`` or more, as
    after years of sendouts. PostgreSQL's sequence is outside the test's
    transaction: it is put back afterwards."""
    table = Sendout._meta.db_table
    saved = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            (sequence,) = cursor.fetchone()
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            saved = cursor.fetchone()

    def move(first: int) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT setval(%s, %s, false)", [sequence, first])
                return
            # SQLite's AUTOINCREMENT: sqlite_sequence, rolled back with the test.
            cursor.execute(
                "UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [first - 1, table]
            )
            if cursor.rowcount == 0:
                cursor.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, first - 1]
                )

    yield move
    if saved is not None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(%s, %s, %s)", [sequence, *saved])


def _refused(response) -> None:
    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "ids_beyond_codes"
    assert not Sendout.objects.exists()
    assert not OutboundMessage.objects.exists()


def _post(api, group, body, **extra):
    return api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/",
        {"body": body, **extra},
        format="json",
    )


@pytest.fixture
def members(org):
    SmsSettingsFactory(organisation=org, quota=100)
    return TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(organisation=org, mobile_phone="+358 40 100 0001"),
            ContactFactory(organisation=org, mobile_phone="+358 40 100 0002"),
        ],
    )


def test_a_tracked_sendout_past_the_short_links_ids_is_refused_not_a_500(
    api, members, next_sendout_id
):
    next_sendout_id(MAX_SENDOUT_ID + 1)
    _refused(_post(api, members, "Katso https://ex.fi/tarjous", link_tracking=True))
    # Without links (and the opt-out link off, as in tests), the same id is no problem.
    response = _post(api, members, "Hei ilman linkkiä")
    assert response.status_code == 202, response.json()
    assert Sendout.objects.get().pk > MAX_SENDOUT_ID


# Refused in the middle of the members' server-side cursor: with the request's
# transaction the outermost, as in production (inside a test's transaction, the
# abandoned cursor's close would fail after the rollback to the savepoint).
@pytest.mark.django_db(transaction=True)
def test_a_contact_past_the_short_links_ids_refuses_the_tracked_sendout(api, org, members):
    beyond = ContactFactory(organisation=org, id=MAX_CONTACT_ID + 1, mobile_phone="+358401000003")
    members.included_contacts.add(beyond)
    _refused(_post(api, members, "Katso https://ex.fi/tarjous", link_tracking=True))


def test_a_marketing_sendout_past_the_tokens_ids_is_refused_not_a_500(
    api, members, settings, next_sendout_id
):
    settings.SMS_OPTOUT_IN_TEXT = True
    next_sendout_id(MAX_ID + 1)
    _refused(_post(api, members, "Hei kaikki", purpose=Purpose.MARKETING))
