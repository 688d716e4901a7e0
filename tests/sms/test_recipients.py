"""Recipient resolution: who gets which text, or which skip reason, in which order."""

import pytest

from crm.models import Contact
from sms.recipients import recipients_resolve, recipients_summarise
from sms.rules.numbers import SkipReason
from sms.tags import parse_template
from tests.factories import ContactFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db

FI = "+358 40 123 4567"
FI_E164 = "+358401234567"
OTHER = "+358 50 765 4321"
OTHER_E164 = "+358507654321"


def resolve(group, body="Hei {{contact.first_name}}", phone_field="mobile_phone"):
    return list(
        recipients_resolve(
            target_group=group, phone_field=phone_field, template=parse_template(body)
        )
    )


def by_contact(recipients):
    return {r.contact_id: r for r in recipients}


def test_each_skip_reason_and_its_precedence(org):
    long_name = "A" * 100  # with the 400-character body below: 500 characters
    rows = [
        # (first_name, mobile_phone, opted_out) -> expected reason
        (("Opted", "", True), SkipReason.OPTED_OUT),  # opted out beats no number
        (("Optedwithnumber", FI, True), SkipReason.OPTED_OUT),  # and a lower id with FI
        (("Nonumber", "", False), SkipReason.MISSING_NUMBER),
        (("Blank", "   ", False), SkipReason.MISSING_NUMBER),
        (("Local", "040 123 4567", False), SkipReason.MISSING_COUNTRY_CODE),
        (("Short", "+358 12", False), SkipReason.INVALID_NUMBER),
        (("Vanity", "+358 40 CALL ME", False), SkipReason.INVALID_NUMBER),
        ((long_name, OTHER, False), SkipReason.TOO_LONG),  # too long beats duplicate
        (("Keeper", FI, False), None),  # lowest id not skipped otherwise keeps FI
        (("Twin", "00358401234567", False), SkipReason.DUPLICATE_NUMBER),
        (("Again", "+358-40-1234567", False), SkipReason.DUPLICATE_NUMBER),
        (("Second", OTHER, False), None),  # the too-long contact did not take OTHER
    ]
    contacts = [
        ContactFactory(
            organisation=org, first_name=name, mobile_phone=phone, sms_opt_out=out, blank=True
        )
        for (name, phone, out), _ in rows
    ]
    body = "x" * 381 + "{{contact.first_name}}"  # 381 + 100 = 481 for the long name
    got = by_contact(
        resolve(TargetGroupFactory(organisation=org, included_contacts=contacts), body=body)
    )

    assert [got[c.pk].reason for c in contacts] == [reason for _, reason in rows]
    assert len(got) == len(rows)
    keeper, second = got[contacts[8].pk], got[contacts[11].pk]
    assert (keeper.to, keeper.body, keeper.chars, keeper.messages) == (
        FI_E164,
        "x" * 381 + "Keeper",
        387,
        3,
    )
    assert second.to == OTHER_E164
    too_long = got[contacts[7].pk]
    assert (too_long.to, too_long.chars, too_long.messages) == (OTHER_E164, 481, 0)


def test_too_long_when_a_tag_value_is_long(org):
    contacts = [
        ContactFactory(organisation=org, first_name="A" * 100, mobile_phone=FI, blank=True),
        ContactFactory(organisation=org, first_name="A" * 99, mobile_phone=OTHER, blank=True),
    ]
    body = "x" * 381 + "{{contact.first_name}}"  # 381 + 100 = 481; 381 + 99 = 480
    got = by_contact(
        resolve(TargetGroupFactory(organisation=org, included_contacts=contacts), body=body)
    )
    first, second = got[contacts[0].pk], got[contacts[1].pk]
    assert (first.reason, first.chars, first.messages) == (SkipReason.TOO_LONG, 481, 0)
    assert (second.reason, second.chars, second.messages) == (None, 480, 3)


def test_members_come_in_id_order_with_names(org):
    contacts = [
        ContactFactory(
            organisation=org, first_name=f"P{i}", last_name="Koski", mobile_phone=FI, blank=True
        )
        for i in range(3)
    ]
    got = resolve(TargetGroupFactory(organisation=org, included_contacts=reversed(contacts)))
    assert [r.contact_id for r in got] == [c.pk for c in contacts]
    assert got[0].name == "P0 Koski"


def test_work_phone_is_used_when_chosen(org):
    c = ContactFactory(
        organisation=org, first_name="Maija", mobile_phone="", work_phone=OTHER, blank=True
    )
    d = ContactFactory(
        organisation=org, first_name="Juha", mobile_phone=FI, work_phone="", blank=True
    )
    group = TargetGroupFactory(organisation=org, included_contacts=[c, d])
    work = by_contact(resolve(group, phone_field="work_phone"))
    assert (work[c.pk].to, work[c.pk].reason) == (OTHER_E164, None)
    assert work[d.pk].reason == SkipReason.MISSING_NUMBER
    mobile = by_contact(resolve(group))
    assert mobile[c.pk].reason == SkipReason.MISSING_NUMBER
    assert (mobile[d.pk].to, mobile[d.pk].reason) == (FI_E164, None)


def test_tags_render_with_fallback_and_account_fields(org, account):
    named = ContactFactory(
        organisation=org,
        first_name="Maija",
        last_name="Mäkelä",
        mobile_phone=FI,
        account=account,
        blank=True,
    )
    nameless = ContactFactory(organisation=org, first_name="", mobile_phone=OTHER, blank=True)
    body = "Hei {{ contact.first_name | ystävä }}, {{contact.full_name}} / {{account.name|-}}!"
    got = by_contact(
        resolve(
            TargetGroupFactory(organisation=org, included_contacts=[named, nameless]), body=body
        )
    )
    assert got[named.pk].body == "Hei Maija, Maija Mäkelä / Kaleva Oy!"
    assert got[nameless.pk].body == "Hei ystävä,  / -!"
    assert got[named.pk].chars == len("Hei Maija, Maija Mäkelä / Kaleva Oy!")


def test_a_field_holding_a_tag_or_html_stays_literal(org):
    c = ContactFactory(
        organisation=org,
        first_name="{{contact.email}}",
        city="<b>Oulu</b>",
        email="x@example.com",
        mobile_phone=FI,
        blank=True,
    )
    got = resolve(
        TargetGroupFactory(organisation=org, included_contacts=[c]),
        body="{{contact.first_name}} {{contact.city}}",
    )
    assert got[0].body == "{{contact.email}} <b>Oulu</b>"


def test_only_members_of_the_groups_organisation(org, other_org):
    mine = ContactFactory(
        organisation=org, first_name="Mine", city="Helsinki", mobile_phone=FI, blank=True
    )
    theirs = ContactFactory(
        organisation=other_org, first_name="Theirs", city="Helsinki", mobile_phone=OTHER, blank=True
    )
    group = TargetGroupFactory(
        organisation=org,
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Helsinki"}],
    )
    # Even a row smuggled into the hand-picked list past the service stays out.
    group.included_contacts.add(theirs)
    assert [r.contact_id for r in resolve(group)] == [mine.pk]


def test_excluded_contacts_are_not_recipients(org):
    a = ContactFactory(organisation=org, first_name="A", city="Turku", mobile_phone=FI, blank=True)
    b = ContactFactory(
        organisation=org, first_name="B", city="Turku", mobile_phone=OTHER, blank=True
    )
    group = TargetGroupFactory(
        organisation=org,
        name="Turku",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "turku"}],
        excluded_contacts=[b.pk],
    )
    assert [r.contact_id for r in resolve(group)] == [a.pk]


def test_summary_counts_and_samples(org):
    contacts = [
        ContactFactory(
            organisation=org, first_name=f"P{i}", mobile_phone=f"+358 40 100 00{i:02d}", blank=True
        )
        for i in range(7)
    ]
    contacts += [
        ContactFactory(
            organisation=org, first_name="Out", mobile_phone=FI, sms_opt_out=True, blank=True
        ),
        ContactFactory(organisation=org, first_name="No", blank=True),
    ]
    summary = recipients_summarise(
        target_group=TargetGroupFactory(organisation=org, included_contacts=contacts),
        phone_field="mobile_phone",
        template=parse_template("Hei {{contact.first_name}}"),
    )
    assert (summary.total, summary.sendable, summary.messages) == (9, 7, 7)
    assert dict(summary.skipped) == {SkipReason.OPTED_OUT: 1, SkipReason.MISSING_NUMBER: 1}
    assert [s.contact_id for s in summary.samples] == [c.pk for c in contacts[:5]]
    assert summary.samples[0].body == "Hei P0"


def test_summary_adds_up_to_the_resolution(org):
    contacts = [
        ContactFactory(
            organisation=org,
            first_name="A" * (i * 7 % 100),
            mobile_phone=f"+358 40 300 00{i % 30:02d}",
            blank=True,
        )
        for i in range(60)
    ]
    contacts += [
        ContactFactory(organisation=org, first_name="Out", sms_opt_out=True, blank=True),
        ContactFactory(organisation=org, first_name="Bad", mobile_phone="+358 1", blank=True),
    ]
    group = TargetGroupFactory(organisation=org, included_contacts=contacts)
    template = parse_template("x" * 380 + "{{contact.first_name}} {{contact.city|Suomi}}")
    resolved = resolve(group, body=template.source)
    summary = recipients_summarise(
        target_group=group, phone_field="mobile_phone", template=template
    )
    sendable = [r for r in resolved if r.sendable]
    assert summary.total == len(resolved)
    assert summary.sendable == len(sendable)
    assert summary.messages == sum(r.messages for r in resolved)
    skipped = {}
    for r in resolved:
        if r.reason is not None:
            skipped[r.reason] = skipped.get(r.reason, 0) + 1
    assert dict(summary.skipped) == skipped
    assert set(skipped) == {
        SkipReason.OPTED_OUT,
        SkipReason.INVALID_NUMBER,
        SkipReason.TOO_LONG,
        SkipReason.DUPLICATE_NUMBER,
    }
    assert summary.samples == sendable[:5]
    assert summary.carrier_segments == max(r.carrier_segments for r in sendable)
    assert summary.ucs2 == sum(r.encoding == "UCS-2" for r in sendable)


def test_a_row_written_past_the_model_is_still_checked(org):
    """A phone field changed by ``QuerySet.update`` leaves both stored columns blank
    (never a valid state): the number is parsed then."""
    good = ContactFactory(organisation=org, first_name="A", blank=True)
    bad = ContactFactory(organisation=org, first_name="B", blank=True)
    Contact.objects.filter(pk=good.pk).update(mobile_phone=FI, mobile_phone_problem="")
    Contact.objects.filter(pk=bad.pk).update(mobile_phone="040 1", mobile_phone_problem="")
    got = by_contact(resolve(TargetGroupFactory(organisation=org, included_contacts=[good, bad])))
    assert (got[good.pk].to, got[good.pk].reason) == (FI_E164, None)
    assert got[bad.pk].reason == SkipReason.MISSING_COUNTRY_CODE


@pytest.mark.parametrize("scan", [1, 4, 1000])
def test_samples_past_the_members_read_in_python_come_from_sql(org, monkeypatch, scan):
    """The samples are the first sendable members whether they are among the first
    ``SAMPLE_SCAN`` members (read in Python) or further (asked of SQL)."""
    monkeypatch.setattr("sms.recipients.SAMPLE_SCAN", scan)
    skipped = [
        ContactFactory(organisation=org, first_name=f"Out{i}", sms_opt_out=True, blank=True)
        for i in range(3)
    ]
    twins = [  # the second is a duplicate, decided on the members before it
        ContactFactory(organisation=org, first_name=f"T{i}", mobile_phone=FI, blank=True)
        for i in range(2)
    ]
    sendable = [
        ContactFactory(
            organisation=org, first_name=f"S{i}", mobile_phone=f"+358 40 200 00{i:02d}", blank=True
        )
        for i in range(6)
    ]
    group = TargetGroupFactory(organisation=org, included_contacts=skipped + twins + sendable)
    template = parse_template("Hei {{contact.first_name}}")
    summary = recipients_summarise(
        target_group=group, phone_field="mobile_phone", template=template
    )
    first = [twins[0], *sendable[:4]]
    assert [s.contact_id for s in summary.samples] == [c.pk for c in first]
    assert [s.body for s in summary.samples] == ["Hei T0", "Hei S0", "Hei S1", "Hei S2", "Hei S3"]
    assert summary.samples == [r for r in resolve(group, body=template.source) if r.sendable][:5]
