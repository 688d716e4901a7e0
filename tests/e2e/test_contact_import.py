"""A CSV file imported in the browser (#20): upload a small Excel-style file (BOM,
``;``, quotes, a broken row, a number without its country code), check the suggested
mapping and the preview, import it into a target group through the real worker,
watch the result page and download the rows not imported."""

import pytest

from crm.models import Contact
from imports.models import ContactImport
from targetgroups.models import TargetGroup

pytestmark = pytest.mark.django_db(transaction=True)

CSV = (
    "\ufeffEtunimi;Sukunimi;Sähköposti;Matkapuhelin;Kaupunki\r\n"
    'Matti;Meikäläinen;matti@example.fi;040 123 4567;"Helsinki; keskusta"\r\n'
    'Maija;"Virta ""Vesi""";maija@example.fi;+358 50 765 4321;Espoo\r\n'
    "Rikki;vain kaksi\r\n"
    "Vanha;Tuttu;vanha@example.fi;0401112222;Oulu\r\n"
).encode()


def test_a_small_csv_is_imported_into_a_group(
    page, login, user, org, celery_worker_process, screenshot, tmp_path
):
    Contact.objects.create(organisation=org, first_name="Old", email="VANHA@example.fi")
    group = TargetGroup.objects.create(organisation=org, name="Imported", created_by=user)
    path = tmp_path / "yhteystiedot.csv"
    path.write_bytes(CSV)

    login(user.username)
    page.get_by_role("link", name="Import contacts from CSV").click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url("**/contacts/import/*/")
    # Mapping suggested from the Finnish headers; the preview lists the broken row.
    assert page.get_by_label("Etunimi").input_value() == "first_name"
    assert page.get_by_label("Matkapuhelin").input_value() == "mobile_phone"
    assert (
        page.get_by_label("Default country for numbers without a country code").input_value()
        == "FI"
    )
    assert "Row 4:" in page.locator("#import-problems").inner_text()
    assert (
        "4 rows: 1 with problems, 1 already in your contacts."
        in page.locator("#import-summary").inner_text()
    )
    assert "Helsinki; keskusta" in page.locator("table").inner_text()
    # Not importing the city: the preview follows the changed mapping.
    page.get_by_label("Kaupunki").select_option("")
    page.get_by_role("button", name="Update the preview").click()
    page.wait_for_load_state()
    assert page.get_by_label("Kaupunki").input_value() == ""
    page.get_by_label("Add the imported contacts to a target group").select_option(str(group.pk))
    screenshot("import-map")
    page.get_by_role("button", name="Import", exact=True).click()
    page.locator("#import-status[data-status=done]").wait_for(timeout=30_000)
    counts = page.locator("#import-counts")
    assert counts.locator("dt:text-is('Created') + dd").inner_text() == "2"
    assert counts.locator("dt:text-is('Duplicates skipped') + dd").inner_text() == "1"
    assert "Row 4:" in page.locator("#import-rejected").inner_text()
    assert "Row 5:" in page.locator("#import-rejected").inner_text()  # the duplicate, skipped
    screenshot("import-result")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    body = download.value.path().read_bytes().decode("utf-8-sig")
    assert "vain kaksi" in body and "vanha@example.fi" in body

    job = ContactImport.objects.get()
    assert (job.status, job.created, job.skipped) == ("done", 2, 1)
    matti = Contact.objects.get(first_name="Matti")
    assert matti.mobile_phone == "+358 40 123 4567" and matti.city == ""
    assert set(group.included_contacts.values_list("first_name", flat=True)) == {"Matti", "Maija"}
