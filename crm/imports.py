"""Contacts imported from CSV (#20).

Reads UTF-8 CSV with or without a BOM, ``;`` or ``,`` as the delimiter (sniffed
from the header line), quoted fields; suggests which column is which contact field
from headers in Finnish and English; checks every row (a number without its country
code is read in the default country); then imports all valid rows, or none when any
row is bad and the user chose so. Duplicates against existing contacts (same email,
or same mobile number) are skipped or updated, as the user chooses; a row that
repeats an earlier row of the same file is rejected. Rows are read as a stream and
written in batches, so 100,000 rows stay within a modest memory (``bench/``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import Contact, Language, Organisation
from crm.numberfix import propose
from crm.phones import PhoneProblem, normalise_phone

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
BATCH = 1000
FIELDS = (
    "first_name",
    "last_name",
    "title",
    "email",
    "mobile_phone",
    "work_phone",
    "city",
    "language",
)
MAX_LENGTHS = {"email": 254, "mobile_phone": 32, "work_phone": 32}
# Headers people write, lower-cased without spaces, dashes or underscores.
SYNONYMS = {
    "first_name": "firstname etunimi forename givenname first",
    "last_name": "lastname sukunimi surname familyname last",
    "title": "title titteli nimike tehtävä asema jobtitle",
    "email": "email sähköposti sposti emailaddress mail",
    "mobile_phone": "mobile mobilephone matkapuhelin gsm puhelin phone kännykkä puhelinnumero",
    "work_phone": "workphone työpuhelin worknumber officephone",
    "city": "city kaupunki paikkakunta kunta town",
    "language": "language kieli lang",
}
_LOOKUP = {word: name for name, words in SYNONYMS.items() for word in words.split()}


class Duplicates:
    SKIP = "skip"
    UPDATE = "update"


def _key(header: str) -> str:
    return "".join(c for c in header.lower() if c not in " -_.")


def suggest_mapping(headers: list[str]) -> dict[int, str]:
    """Column index → contact field, for the headers that name one (each field once)."""
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        name = _LOOKUP.get(_key(header))
        if name and name not in mapping.values():
            mapping[index] = name
    return mapping


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise DomainError(
            "file_too_large",
            _("The file is larger than 50 MB."),
            file=[_("The file is larger than 50 MB.")],
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = _("Save the file as UTF-8 CSV (Excel: “CSV UTF-8”).")
        raise DomainError("not_utf8", message, file=[message]) from exc
    if "\x00" in text:
        message = _("This is not a CSV file.")
        raise DomainError("not_csv", message, file=[message])
    return text


def reader(text: str) -> tuple[list[str], Iterator[list[str]]]:
    """The header and an iterator of the rows; ``;`` or ``,`` as the header has most."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    try:
        header = next(rows)
    except (StopIteration, csv.Error) as exc:
        message = _("The file is empty.")
        raise DomainError("empty_file", message, file=[message]) from exc
    return [h.strip() for h in header], rows


@dataclass
class Checked:
    """One row checked: ``data`` for a contact, or ``problems``."""

    line: int
    values: list[str]
    data: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    duplicate_of: int | None = None


@dataclass
class Existing:
    by_email: dict[str, int]
    by_mobile: dict[str, int]

    @classmethod
    def of(cls, organisation: Organisation) -> Existing:
        rows = Contact.objects.filter(organisation=organisation).values_list(
            "pk", "email", "mobile_phone_e164"
        )
        by_email, by_mobile = {}, {}
        for pk, email, mobile in rows.iterator(chunk_size=5000):
            if email:
                by_email.setdefault(email.lower(), pk)
            if mobile:
                by_mobile.setdefault(mobile, pk)
        return cls(by_email, by_mobile)


_NONE = Existing({}, {})


def _phone(value: str, country: str) -> tuple[str, str]:
    phone = normalise_phone(value)
    if phone.ok or phone.problem == PhoneProblem.MISSING_NUMBER:
        return value.strip(), ""
    if phone.problem == PhoneProblem.MISSING_COUNTRY_CODE:
        new, why = propose(value, country=country)
        return (new, "") if new else ("", why)
    return "", _("Not a valid phone number.")


def check_rows(
    header: list[str],
    rows: Iterator[list[str]],
    *,
    mapping: dict[int, str],
    country: str,
    existing: Existing,
) -> Iterator[Checked]:
    """Each row checked, in order (line 2 is the first row after the header)."""
    seen_emails: set[str] = set()
    seen_mobiles: set[str] = set()
    width = len(header)
    numbered = enumerate(rows, start=2)
    while True:
        try:
            line, values = next(numbered)
        except StopIteration:
            return
        except csv.Error as exc:
            # An unclosed quote runs on to the end of the file, past the field limit.
            message = _("Row %(line)s cannot be read as CSV: check its quotes.") % {
                "line": getattr(rows, "line_num", 0) or "?"
            }
            raise DomainError("not_csv", message, file=[message]) from exc
        if line - 1 > MAX_ROWS:
            message = _("Import at most %(max)s rows at a time.") % {"max": f"{MAX_ROWS:,}"}
            raise DomainError("too_many_rows", message, file=[message])
        row = Checked(line, values)
        if not any(v.strip() for v in values):
            continue
        if len(values) != width:
            row.problems.append(
                _("%(n)s columns where the header has %(width)s.")
                % {"n": len(values), "width": width}
            )
            yield row
            continue
        for index, name in mapping.items():
            value = values[index].strip()
            if "\x00" in value:
                row.problems.append(_("%(field)s: contains a NUL character.") % {"field": name})
                continue
            limit = MAX_LENGTHS.get(name, 100)
            if name == "email" and value:
                try:
                    validate_email(value)
                except ValidationError:
                    row.problems.append(_("Not a valid email address: %(v)s") % {"v": value})
                    continue
            if name in ("mobile_phone", "work_phone") and value:
                value, why = _phone(value, country)
                if why:
                    row.problems.append(why)
                    continue
            if name == "language" and value:
                code = value.lower()[:2]
                if code not in Language.values:
                    row.problems.append(_("Unknown language: %(v)s") % {"v": value})
                    continue
                value = code
            if len(value) > limit:
                row.problems.append(
                    _("%(field)s: at most %(max)s characters.") % {"field": name, "max": limit}
                )
                continue
            row.data[name] = value
        if row.problems:
            yield row
            continue
        email = row.data.get("email", "").lower()
        mobile = normalise_phone(row.data.get("mobile_phone", "")).e164
        if (email and email in seen_emails) or (mobile and mobile in seen_mobiles):
            row.problems.append(_("Repeats an earlier row of this file."))
            yield row
            continue
        if email:
            seen_emails.add(email)
        if mobile:
            seen_mobiles.add(mobile)
        row.duplicate_of = existing.by_email.get(email) if email else None
        if row.duplicate_of is None and mobile:
            row.duplicate_of = existing.by_mobile.get(mobile)
        yield row


def mapping_check(mapping: dict[int, str], header: list[str]) -> None:
    """A mapping names existing columns, each field once, at least one field."""
    if not mapping or any(name not in FIELDS for name in mapping.values()):
        message = _("Map at least one column to a contact field.")
        raise DomainError("invalid_mapping", message, mapping=[message])
    if len(set(mapping.values())) != len(mapping):
        message = _("Map each contact field to one column only.")
        raise DomainError("invalid_mapping", message, mapping=[message])
    if any(not 0 <= i < len(header) for i in mapping):
        message = _("The mapping names a column the file does not have.")
        raise DomainError("invalid_mapping", message, mapping=[message])


def count_rows(data: bytes) -> int:
    """The rows after the header that hold anything (what the progress counts to)."""
    header, rows = reader(decode(data))
    return sum(1 for _row in check_rows(header, rows, mapping={}, country="FI", existing=_NONE))


def contacts_check(
    *,
    organisation: Organisation,
    data: bytes,
    mapping: dict[int, str],
    country: str,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Every row with a problem (nothing is written). ``progress(done)`` every ``BATCH``."""
    header, rows = reader(decode(data))
    mapping_check(mapping, header)
    existing = Existing.of(organisation)
    rejected, done = [], 0
    for row in check_rows(header, rows, mapping=mapping, country=country, existing=existing):
        done += 1
        if row.problems:
            rejected.append(_rejected(row))
        if progress and done % BATCH == 0:
            progress(done)
    if progress:
        progress(done)
    return rejected


@dataclass
class Result:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    contact_ids: list[int] = field(default_factory=list)
    imported: bool = True


def _rejected(row: Checked) -> dict[str, Any]:
    return {"line": row.line, "values": row.values, "problems": row.problems}


def contacts_import(
    *,
    organisation: Organisation,
    data: bytes,
    mapping: dict[int, str],
    country: str = "FI",
    duplicates: str = Duplicates.SKIP,
    all_or_none: bool = True,
    progress: Any = None,
) -> Result:
    """Import the rows of a CSV file: one transaction; with ``all_or_none`` nothing is
    written when any row is bad (the result lists them); otherwise the valid rows are.
    A duplicate that is skipped is listed among the rows not imported, with why.
    ``progress(done)`` is called every ``BATCH`` rows."""
    header, _rows = reader(decode(data))
    mapping_check(mapping, header)
    existing = Existing.of(organisation)
    result = Result()
    if all_or_none:
        result.rejected = contacts_check(
            organisation=organisation, data=data, mapping=mapping, country=country
        )
        if result.rejected:
            result.imported = False
            return result
    header, rows = reader(decode(data))
    now = timezone.now()
    to_create: list[Contact] = []
    to_update: list[tuple[int, dict[str, str]]] = []
    done = 0

    def flush() -> None:
        if to_create:
            for contact in to_create:
                contact.normalise_phones()
            made = Contact.objects.bulk_create(to_create, batch_size=BATCH)
            result.contact_ids.extend(c.pk for c in made)
            result.created += len(made)
            to_create.clear()
        if to_update:
            by_pk = Contact.objects.in_bulk([pk for pk, _d in to_update])
            changed = []
            for pk, values in to_update:
                contact = by_pk[pk]
                for name, value in values.items():
                    if value:
                        setattr(contact, name, value)
                contact.updated_at = now
                contact.normalise_phones()
                changed.append(contact)
                result.contact_ids.append(pk)
            names = sorted({n for _pk, d in to_update for n in d} | {"updated_at"})
            for phone in ("mobile_phone", "work_phone"):
                if phone in names:
                    names += [f"{phone}_e164", f"{phone}_problem", f"{phone}_not_mobile"]
            Contact.objects.bulk_update(changed, names, batch_size=BATCH)
            result.updated += len(changed)
            to_update.clear()

    with transaction.atomic():
        for row in check_rows(header, rows, mapping=mapping, country=country, existing=existing):
            done += 1
            if row.problems:
                result.rejected.append(_rejected(row))
            elif row.duplicate_of is not None:
                if duplicates == Duplicates.UPDATE:
                    to_update.append((row.duplicate_of, row.data))
                else:
                    result.skipped += 1
                    result.rejected.append(
                        {
                            "line": row.line,
                            "values": row.values,
                            "problems": [_("Same email or number as an existing contact.")],
                            "duplicate": True,
                        }
                    )
            else:
                to_create.append(Contact(organisation=organisation, **row.data))
            if len(to_create) + len(to_update) >= BATCH:
                flush()
            if progress and done % BATCH == 0:
                progress(done)
        flush()
    if progress:
        progress(done)
    return result


def preview(
    *,
    organisation: Organisation,
    data: bytes,
    mapping: dict[int, str] | None,
    country: str,
    rows: int = 10,
) -> dict[str, Any]:
    """The header, the suggested (or given) mapping, the first rows and every problem."""
    header, reader_rows = reader(decode(data))
    mapping = suggest_mapping(header) if mapping is None else mapping
    first, problems, duplicates, total = [], [], 0, 0
    existing = Existing.of(organisation)
    for row in check_rows(header, reader_rows, mapping=mapping, country=country, existing=existing):
        total += 1
        if len(first) < rows:
            first.append(row.values)
        if row.problems:
            problems.append(_rejected(row))
        elif row.duplicate_of is not None:
            duplicates += 1
    return {
        "header": header,
        "mapping": {str(i): name for i, name in mapping.items()},
        "rows": first,
        "total": total,
        "problems": problems,
        "duplicates": duplicates,
    }


def rejected_csv(rejected: list[dict[str, Any]], header: list[str]) -> str:
    """The rows not imported, as CSV with their line and reasons first (for download)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow([_("Line"), _("Problems"), *header])
    for row in rejected:
        writer.writerow([row["line"], " ".join(row["problems"]), *row["values"]])
    return "\ufeff" + out.getvalue()
