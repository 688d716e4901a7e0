"""CSV import of contacts (#20): BOM, ``;`` or ``,``, quotes, broken rows, mapping
suggested from Finnish and English headers, default country, duplicates skipped or
updated, all-or-none or the valid rows, rejected rows downloadable; bad input."""

import pytest

from core.errors import DomainError
from crm import imports
from crm.models import Contact

pytestmark = pytest.mark.django_db

FINNISH = (
    "\ufeffEtunimi;Sukunimi;Sähköposti;Matkapuhelin;Kaupunki\r\n"
    'Matti;Meikäläinen;matti@example.fi;040 123 4567;"Helsinki; keskusta"\r\n'
    'Maija;"Virta ""Vesi""";maija@example.fi;+358 50 765 4321;"Espoo\r\nTapiola"\r\n'
).encode()
ENGLISH = (
    b"First name,Last name,Email,Mobile,City,Language\n"
    b"Anna,Smith,anna@example.com,0401112222,Oulu,fi\n"
)


def run(org, data, **kw):
    header, _rows = imports.reader(imports.decode(data))
    kw.setdefault("mapping", imports.suggest_mapping(header))
    return imports.contacts_import(organisation=org, data=data, **kw)


def test_finnish_headers_bom_semicolons_and_quotes(org):
    header, _rows = imports.reader(imports.decode(FINNISH))
    assert header[0] == "Etunimi"  # the BOM is not part of the first header
    assert imports.suggest_mapping(header) == {
        0: "first_name",
        1: "last_name",
        2: "email",
        3: "mobile_phone",
        4: "city",
    }
    result = run(org, FINNISH)
    assert result.imported and result.created == 2 and not result.rejected
    matti = Contact.objects.get(first_name="Matti")
    assert matti.city == "Helsinki; keskusta"
    assert matti.mobile_phone == "+358 40 123 4567"  # read in the default country
    assert matti.mobile_phone_e164 == "+358401234567"
    maija = Contact.objects.get(first_name="Maija")
    assert maija.last_name == 'Virta "Vesi"' and maija.city == "Espoo\r\nTapiola"


def test_english_headers_and_commas(org):
    header, _rows = imports.reader(imports.decode(ENGLISH))
    assert imports.suggest_mapping(header)[5] == "language"
    result = run(org, ENGLISH)
    assert result.created == 1
    anna = Contact.objects.get()
    assert (anna.language, anna.mobile_phone_e164) == ("fi", "+358401112222")


BROKEN = (
    "Etunimi;Sähköposti;Puhelin\n"
    "Ok;ok@example.fi;0401234567\n"
    "Lyhyt;vain kaksi\n"
    "Huono;not-an-email;0401234568\n"
    "Numero;numero@example.fi;040\n"
    "Toisto;ok@example.fi;0409999999\n"
    "\n"
).encode()


def test_broken_rows_all_or_none_imports_none_and_lists_every_problem(org):
    result = run(org, BROKEN)
    assert not result.imported and result.created == 0
    assert not Contact.objects.exists()
    lines = {row["line"]: row["problems"] for row in result.rejected}
    assert set(lines) == {3, 4, 5, 6}
    assert "columns" in lines[3][0] and "email" in lines[4][0] and "short" in lines[5][0]


def test_broken_rows_valid_only_imports_the_valid(org):
    result = run(org, BROKEN, all_or_none=False)
    assert result.imported and result.created == 1
    # The repeat of an earlier row of the file is rejected too.
    assert {row["line"] for row in result.rejected} == {3, 4, 5, 6}
    csv_text = imports.rejected_csv(result.rejected, ["Etunimi", "Sähköposti", "Puhelin"])
    assert csv_text.startswith("\ufeff") and "not-an-email" in csv_text


def test_duplicates_skipped_or_updated(org, other_org):
    Contact.objects.create(organisation=org, first_name="Old", email="MATTI@example.fi")
    Contact.objects.create(organisation=org, first_name="Tel", mobile_phone="+358507654321")
    Contact.objects.create(organisation=other_org, first_name="Theirs", email="anna@example.com")
    skipped = run(org, FINNISH)
    assert (skipped.created, skipped.skipped, skipped.updated) == (0, 2, 0)
    assert Contact.objects.get(email="MATTI@example.fi").first_name == "Old"
    updated = run(org, FINNISH, duplicates=imports.Duplicates.UPDATE)
    assert (updated.created, updated.updated) == (0, 2)
    assert Contact.objects.get(email__iexact="matti@example.fi").first_name == "Matti"
    assert Contact.objects.get(mobile_phone_e164="+358507654321").first_name == "Maija"
    # Another organisation's contact is no duplicate.
    assert run(org, ENGLISH).created == 1


def test_preview_shows_first_rows_problems_and_duplicates(org):
    Contact.objects.create(organisation=org, email="ok@example.fi")
    data = imports.preview(organisation=org, data=BROKEN, mapping=None, country="FI")
    assert data["header"] == ["Etunimi", "Sähköposti", "Puhelin"]
    assert data["mapping"] == {"0": "first_name", "1": "email", "2": "mobile_phone"}
    assert data["rows"][0] == ["Ok", "ok@example.fi", "0401234567"]
    assert {p["line"] for p in data["problems"]} == {3, 4, 5, 6}
    assert data["duplicates"] == 1 and data["total"] == 5
    assert not Contact.objects.exclude(email="ok@example.fi").exists()


@pytest.mark.parametrize(
    ("data", "mapping", "code"),
    [
        ("Etunimi\nÄijä\n".encode("latin-1"), {0: "first_name"}, "not_utf8"),
        (b"", {0: "first_name"}, "empty_file"),
        (b"a\x00b\n", {0: "first_name"}, "not_csv"),
        (b"Etunimi\nx\n", {}, "invalid_mapping"),
        (b"Etunimi\nx\n", {0: "password"}, "invalid_mapping"),
        (b"Etunimi\nx\n", {3: "first_name"}, "invalid_mapping"),
        (b"Etunimi;Nimi\nx;y\n", {0: "first_name", 1: "first_name"}, "invalid_mapping"),
    ],
)
def test_bad_files_and_mappings_are_refused_and_change_nothing(org, data, mapping, code):
    with pytest.raises(DomainError) as exc:
        imports.contacts_import(organisation=org, data=data, mapping=mapping)
    assert exc.value.code == code and exc.value.message
    assert not Contact.objects.exists()


def test_too_long_values_are_problems_not_errors(org):
    data = ("Etunimi;Sähköposti\n" + "x" * 101 + ";a@example.fi\n").encode()
    result = run(org, data)
    assert not result.imported and "100" in result.rejected[0]["problems"][0]
