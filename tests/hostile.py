"""Data shared by the hostile-input tests: an organisation where every API route has
something to act on (SMS active, quota, a target group with members, a sendout)."""

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from crm.models import Account, Contact, Organisation, PhoneFix
from imports.models import ContactImport
from imports.services import contact_import_upload
from sms.models import MessageTemplate, Sendout
from targetgroups.models import TargetGroup
from tests.factories import (
    AccountFactory,
    ContactFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
    create_sendout,
)


@dataclass
class World:
    """One object of each kind in one organisation."""

    organisation: Organisation
    account: Account
    contact: Contact
    target_group: TargetGroup
    sendout: Sendout
    message_template: MessageTemplate
    phone_fix: PhoneFix
    contact_import: ContactImport

    def object_for(self, path: str) -> Any:
        """The object of the kind an API path acts on (``/api/v1/contacts/{id}/`` ...)."""
        for prefix, obj in (
            ("/api/v1/accounts/", self.account),
            ("/api/v1/contacts/", self.contact),
            ("/api/v1/sms/sendouts/", self.sendout),
            ("/api/v1/sms/replies/", self.sendout),  # the replies of its sendouts
            ("/api/v1/sms/templates/", self.message_template),
            ("/api/v1/target-groups/", self.target_group),
            ("/api/v1/phone-fixes/", self.phone_fix),
            ("/api/v1/contact-imports/", self.contact_import),
        ):
            if path.startswith(prefix):
                return obj
        raise AssertionError(f"{path}: no object of this kind in the hostile world; add it")


def build_world(organisation: Organisation, user, *, name: str = "Kaleva Oy") -> World:
    """An account, a contact at it, a target group holding the contact and a sendout
    of that group, with SMS active and some quota; a number fix and an uploaded CSV
    import."""
    SmsSettingsFactory(organisation=organisation, quota=1_000)
    account = AccountFactory(organisation=organisation, name=name, city="Helsinki")
    contact = ContactFactory(
        organisation=organisation,
        account=account,
        mobile_phone="+358 40 123 4567",
    )
    group = TargetGroupFactory(
        organisation=organisation,
        name=f"{name} group",
        created_by=user,
        included_contacts=[contact],
    )
    sendout = create_sendout(
        target_group=group, created_by=user, body="Hei {{contact.first_name}}!"
    )
    template = MessageTemplate.objects.create(
        organisation=organisation, name=f"{name} template", body="Hei {{contact.first_name}}!"
    )
    phone_fix = PhoneFix.objects.create(organisation=organisation, country="FI", created_by=user)
    contact_import = contact_import_upload(
        organisation=organisation,
        user=user,
        file_name="contacts.csv",
        data=b"Etunimi;Matkapuhelin\nMatti;040 123 4567\n",
    )
    return World(
        organisation, account, contact, group, sendout, template, phone_fix, contact_import
    )


# --- Hostile values: what an attacker or a careless client sends ---------------------------
#
# By the kind of value a field holds: a string, a date, a number or a structure. The
# API fuzzing (tests/test_api_fuzz.py) puts them into every field of valid requests;
# nothing may answer 5xx.

NUL_STRINGS = ["\x00", "a\x00b", "%00", "x" * 10 + "\x00"]
SURROGATE_STRINGS = ["\ud800", "x\udfff", "\udc00\ud800", "a\ud83d"]
DATES_AT_AND_BEYOND_THE_LIMITS = [
    "0001-01-01",
    "0999-12-31",
    "1000-01-01",  # targetgroups.fields.MIN_DATE
    "1970-01-01",
    "2038-01-19",
    "9998-12-31",  # targetgroups.fields.MAX_DATE
    "9999-12-31",
    "10000-01-01",
    "2024-02-30",
    "-0001-01-01",
    "0000-00-00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-12:00",
]
NUMBERS_BEYOND_64_BITS = [
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**30,
    -(10**30),
    1e308,
    -1e308,
    float("inf"),
    5e-324,
]
DEPTH = 1_000


def nested(depth: int = DEPTH) -> Any:
    """A list nested ``depth`` deep (built without recursion)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def hostile_values(value: Any) -> st.SearchStrategy[Any]:
    """Hostile replacements for a value of the kind ``value`` is: a string gets NUL
    bytes and lone surrogates (and dates at and beyond the limits), a number 64-bit
    overflow, any value deep nesting."""
    deep = st.sampled_from([nested(), {"a": nested(40)}, nested(33)])
    if isinstance(value, bool):
        return st.one_of(st.sampled_from(NUMBERS_BEYOND_64_BITS), deep)
    if isinstance(value, int | float):
        return st.one_of(st.sampled_from(NUMBERS_BEYOND_64_BITS), deep)
    if isinstance(value, str):
        return st.one_of(
            st.sampled_from(NUL_STRINGS + SURROGATE_STRINGS),
            st.sampled_from(DATES_AT_AND_BEYOND_THE_LIMITS),
            st.builds(
                lambda s, spike: s[:3] + spike + s[3:],
                st.just(value),
                st.sampled_from(NUL_STRINGS + SURROGATE_STRINGS),
            ),
            deep,
        )
    return st.one_of(
        deep,
        st.sampled_from(NUL_STRINGS + SURROGATE_STRINGS),
        st.sampled_from(NUMBERS_BEYOND_64_BITS),
    )


def hostile_url_values(value: Any) -> st.SearchStrategy[Any]:
    """Hostile replacements for a query or path value (a URL carries no lone
    surrogate: it is UTF-8 on the wire)."""
    return st.one_of(
        st.sampled_from(NUL_STRINGS),
        st.sampled_from(DATES_AT_AND_BEYOND_THE_LIMITS),
        st.sampled_from([n for n in NUMBERS_BEYOND_64_BITS if isinstance(n, int)]),
        st.sampled_from(["²", "١٢", "+1", "1e3", " 1", "-0"]),
    )


def hostile_conditions() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Conditions on real catalogue fields and operators whose value is hostile for the
    field's type: dates at and beyond the limits for every date operator, 64-bit
    overflow for ``within_last_days`` and numbers, NUL bytes and lone surrogates in
    text, deep nesting anywhere."""
    from targetgroups.fields import FIELDS, FieldType, Operator

    by_type: dict[FieldType, st.SearchStrategy[Any]] = {
        FieldType.DATE: st.sampled_from(DATES_AT_AND_BEYOND_THE_LIMITS),
        FieldType.NUMBER: st.sampled_from(NUMBERS_BEYOND_64_BITS),
        FieldType.TEXT: st.sampled_from(NUL_STRINGS + SURROGATE_STRINGS),
        FieldType.CHOICE: st.sampled_from(NUL_STRINGS + SURROGATE_STRINGS),
        FieldType.BOOLEAN: st.sampled_from(NUL_STRINGS + NUMBERS_BEYOND_64_BITS),
    }

    def condition(f, op: Operator) -> st.SearchStrategy[dict[str, Any]]:
        if op == Operator.WITHIN_LAST_DAYS:
            values = st.sampled_from(NUMBERS_BEYOND_64_BITS)
        elif op == Operator.IN:
            values = st.lists(by_type[f.type], min_size=1, max_size=3)
        else:
            values = by_type[f.type]
        # Deep nesting is refused before any condition is read: seldom, here.
        values = st.one_of(*[values] * 5, st.just(nested()))
        return st.fixed_dictionaries(
            {"field": st.just(f.key), "operator": st.just(str(op)), "value": values}
        )

    # Every (field type, operator) pair equally likely, whatever the number of fields.
    pairs = {(f.type, op): f for f in FIELDS for op in f.operators}
    return st.lists(
        st.sampled_from(sorted(pairs, key=str)).flatmap(
            lambda pair: condition(pairs[pair], pair[1])
        ),
        min_size=1,
        max_size=1,
    )


# Operations whose body holds conditions.
CONDITION_PATHS = {
    "/api/v1/target-groups/",
    "/api/v1/target-groups/{id}/",
    "/api/v1/target-groups/count/",
}


def spiked(case: Any, data: st.DataObject) -> Any:
    """``case`` (a valid request) with one field, chosen by ``data``, made hostile."""
    if (
        case.path in CONDITION_PATHS
        and case.method in ("POST", "PATCH")
        and data.draw(st.booleans())
    ):
        # Half of these: a clean, valid group whose conditions are hostile (the schema's
        # own cases seldom name a real field).
        case.body = {
            "name": "Hostile",
            "match": data.draw(st.sampled_from(["all", "any"])),
            "conditions": data.draw(hostile_conditions()),
        }
        case.media_type = "application/json"
        return case
    places = []
    if isinstance(case.body, dict) and case.body:
        places += [("body", key) for key in case.body]
    if isinstance(case.body, list) and case.body:
        places.append(("body", None))
    places += [("query", key) for key in case.query or {}]
    places += [("path_parameters", key) for key in case.path_parameters or {}]
    if not places:
        case.body = data.draw(st.sampled_from([nested(), {"x": "\x00"}, {"x": "\ud800"}]))
        case.media_type = "application/json"
        return case
    where, key = data.draw(st.sampled_from(places))
    if where == "body":
        body = case.body
        if key is None:
            body[0] = data.draw(hostile_values(body[0]))
        elif key == "conditions":
            body[key] = data.draw(hostile_conditions())
        else:
            body[key] = data.draw(hostile_values(body[key]))
        case.body = body
        case.media_type = "application/json"
    else:
        container = dict(getattr(case, where))
        container[key] = data.draw(hostile_url_values(container[key]))
        setattr(case, where, container)
    return case
