"""CSV import as a job (#20): upload, mapping, start, run (all or none, valid rows,
duplicates skipped or updated, target group), the pages, the API and its bad input."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import Contact, Role
from imports import services
from imports.models import ContactImport, ImportStatus
from targetgroups.models import TargetGroup
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db
URL = "/api/v1/contact-imports/"

CSV = (
    "\ufeffEtunimi;Sukunimi;Sähköposti;Matkapuhelin\r\n"
    "Matti;Meikäläinen;matti@example.fi;040 123 4567\r\n"
    'Maija;"Virta; ""Vesi""";maija@example.fi;+358 50 765 4321\r\n'
    "Rikki;vain kaksi\r\n"
).encode()
GOOD = "\n".join(CSV.decode().splitlines()[:3]).encode()
MAPPING = {"0": "first_name", "1": "last_name", "2": "email", "3": "mobile_phone"}


def upload(org, user=None, data=CSV):
    return services.contact_import_upload(
        organisation=org, user=user, file_name="contacts.csv", data=data
    )


def start_and_run(job, django_capture_on_commit_callbacks=None, **choices):
    choices.setdefault("mapping", MAPPING)
    services.contact_import_start(contact_import=job, **choices)
    assert services.contact_import_run(contact_import_id=job.pk) != "taken"
    job.refresh_from_db()
    return job


def test_upload_keeps_the_file_header_suggested_mapping_and_row_count(org):
    job = upload(org)
    assert job.status == ImportStatus.UPLOADED
    assert job.header == ["Etunimi", "Sukunimi", "Sähköposti", "Matkapuhelin"]
    assert job.mapping == MAPPING and job.rows_total == 3
    assert not Contact.objects.exists()


def test_valid_rows_are_imported_and_the_broken_one_listed(org):
    job = start_and_run(upload(org))
    assert job.status == ImportStatus.DONE and job.progress == 100
    assert (job.created, job.updated, job.skipped) == (2, 0, 0)
    assert [row["line"] for row in job.rejected] == [4]
    maija = Contact.objects.get(first_name="Maija")
    assert maija.last_name == 'Virta; "Vesi"' and maija.organisation == org
    assert Contact.objects.get(first_name="Matti").mobile_phone_e164 == "+358401234567"


def test_all_or_none_imports_nothing_when_a_row_is_bad(org):
    job = start_and_run(upload(org), all_or_none=True)
    assert job.status == ImportStatus.REFUSED
    assert [row["line"] for row in job.rejected] == [4]
    assert not Contact.objects.exists()


def test_all_or_none_imports_everything_when_every_row_is_good(org):
    job = start_and_run(upload(org, data=GOOD), all_or_none=True)
    assert job.status == ImportStatus.DONE and job.created == 2


def test_duplicates_are_reported_and_skipped_or_updated(org):
    Contact.objects.create(organisation=org, first_name="Vanha", email="MATTI@example.fi")
    skipped = start_and_run(upload(org, data=GOOD))
    assert (skipped.created, skipped.skipped) == (1, 1)
    assert skipped.rejected[0]["line"] == 2 and skipped.rejected[0]["duplicate"]
    assert Contact.objects.filter(first_name="Vanha").exists()
    updated = start_and_run(upload(org, data=GOOD), duplicates="update")
    assert (updated.created, updated.updated, updated.skipped) == (0, 2, 0)
    assert not Contact.objects.filter(first_name="Vanha").exists()


def test_imported_contacts_become_included_members_of_the_target_group(org):
    group = TargetGroup.objects.create(organisation=org, name="Imported")
    job = start_and_run(upload(org), target_group_id=group.pk)
    assert set(group.included_contacts.values_list("first_name", flat=True)) == {"Matti", "Maija"}
    assert job.target_group == group


def test_a_job_runs_once(org):
    job = start_and_run(upload(org))
    assert services.contact_import_run(contact_import_id=job.pk) == "taken"
    assert Contact.objects.count() == 2


@pytest.mark.parametrize(
    ("choices", "code"),
    [
        ({"mapping": {}}, "invalid_mapping"),
        ({"mapping": {"9": "first_name"}}, "invalid_mapping"),
        ({"mapping": {"x": "first_name"}}, "invalid_mapping"),
        ({"mapping": {"0": "password"}}, "invalid_mapping"),
        ({"mapping": ["first_name"]}, "invalid_mapping"),
        ({"mapping": MAPPING, "country": "XX"}, "invalid_country"),
        ({"mapping": MAPPING, "duplicates": "merge"}, "invalid_duplicates"),
        ({"mapping": MAPPING, "target_group_id": 10**12}, "invalid_target_group"),
    ],
)
def test_bad_choices_are_refused_and_change_nothing(org, choices, code):
    from core.errors import DomainError

    job = upload(org)
    with pytest.raises(DomainError) as exc:
        services.contact_import_start(contact_import=job, **choices)
    assert exc.value.code == code and exc.value.message
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_another_organisations_group_is_refused(org, other_org):
    from core.errors import DomainError

    theirs = TargetGroup.objects.create(organisation=other_org, name="Theirs")
    with pytest.raises(DomainError):
        services.contact_import_start(
            contact_import=upload(org), mapping=MAPPING, target_group_id=theirs.pk
        )


# The pages.


def test_pages_upload_map_preview_start_and_result(
    browser, org, django_capture_on_commit_callbacks
):
    response = browser.get(reverse("contact-import"))
    assert response.status_code == 200
    response = browser.post(
        reverse("contact-import"), {"file": SimpleUploadedFile("c.csv", CSV, "text/csv")}
    )
    job = ContactImport.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "contact-import-detail", args=[job.pk]
    )
    page = browser.get(response.url)
    text = page.content.decode()
    assert page.status_code == 200 and "Meikäläinen" in text and "Row 4" in text
    assert 'value="first_name" selected' in text
    form = {f"column-{i}": name for i, name in MAPPING.items()}
    form |= {"country": "FI", "duplicates": "skip", "mode": "valid", "target_group": ""}
    with django_capture_on_commit_callbacks() as callbacks:
        response = browser.post(response.url, form)
    assert response.status_code == 302 and len(callbacks) == 1
    services.contact_import_run(contact_import_id=job.pk)
    result = browser.get(response.url).content.decode()
    assert "Rows not imported" in result and "Row 4" in result
    download = browser.get(reverse("contact-import-rejected", args=[job.pk]))
    assert download["Content-Type"].startswith("text/csv")
    assert "vain kaksi" in download.content.decode("utf-8-sig")
    assert Contact.objects.count() == 2


def test_page_refuses_a_file_that_is_not_utf8(browser, org):
    response = browser.post(
        reverse("contact-import"),
        {"file": SimpleUploadedFile("c.csv", "Nimi\nÄijä\n".encode("latin-1"), "text/csv")},
    )
    assert response.status_code == 400 and "UTF-8" in response.content.decode()
    assert not ContactImport.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {"column-0": "first_name", "country": "ZZ"},
        {"column-0": "nope", "country": "FI"},
        {"country": "FI"},
        {"column-0": "first_name", "country": "FI", "target_group": "abc"},
        {"column-0": "first_name", "country": "FI", "target_group": "9" * 30},
        {"column-0": "first_name", "country": "FI", "duplicates": "x"},
    ],
)
def test_page_bad_choices_answer_400_and_change_nothing(browser, org, form):
    job = upload(org)
    form = {"duplicates": "skip", "mode": "valid"} | form
    response = browser.post(reverse("contact-import-detail", args=[job.pk]), form)
    assert response.status_code == 400
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_viewer_may_not_import_and_another_organisation_sees_404(make_user, org, other_org):
    viewer = logged_in(make_user(org, role=Role.VIEWER))
    assert viewer.get(reverse("contact-import")).status_code == 403
    job = upload(other_org)
    member = logged_in(make_user(org))
    assert member.get(reverse("contact-import-detail", args=[job.pk])).status_code == 404
    assert member.get(reverse("contact-import-rejected", args=[job.pk])).status_code == 404


# The API.


def test_api_upload_preview_start_and_follow(api, org, django_capture_on_commit_callbacks):
    response = api.post(URL, {"file": SimpleUploadedFile("c.csv", CSV)}, format="multipart")
    assert response.status_code == 201, response.json()
    job = response.json()
    assert job["mapping"] == MAPPING and job["status"] == "uploaded"
    preview = api.post(f"{URL}{job['id']}/preview/", {"country": "FI"}, format="json").json()
    assert preview["total"] == 3 and [p["line"] for p in preview["problems"]] == [4]
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"{URL}{job['id']}/start/", {"mapping": MAPPING}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert len(callbacks) == 1
    again = api.post(f"{URL}{job['id']}/start/", {"mapping": MAPPING}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_started"
    services.contact_import_run(contact_import_id=job["id"])
    done = api.get(f"{URL}{job['id']}/").json()
    assert (done["status"], done["created"], done["not_imported"], done["progress"]) == (
        "done",
        2,
        1,
        100,
    )
    rows = api.get(f"{URL}{job['id']}/not-imported/").json()
    assert rows[0]["line"] == 4 and rows[0]["problems"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mapping": "x"}, "mapping"),
        ({"mapping": {"0": "x" * 51}}, "mapping"),
        ({"mapping": {"0": "password"}}, "mapping"),
        ({"mapping": {"99": "first_name"}}, "mapping"),
        ({"mapping": MAPPING, "country": "XYZ"}, "country"),
        ({"mapping": MAPPING, "country": "QQ"}, "country"),
        ({"mapping": MAPPING, "duplicates": "merge"}, "duplicates"),
        ({"mapping": MAPPING, "all_or_none": "perhaps"}, "all_or_none"),
        ({"mapping": MAPPING, "target_group": "a"}, "target_group"),
        ({"mapping": MAPPING, "target_group": 2**64}, "target_group"),
        ({"mapping": MAPPING, "target_group": 10**12}, "target_group"),
    ],
)
def test_api_bad_start_input_answers_400_and_changes_nothing(api, org, body, field):
    job = upload(org)
    response = api.post(f"{URL}{job.pk}/start/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("Nimi\nÄijä\n".encode("latin-1"), "not_utf8"),
        (b"", "empty_file"),
        (b"a\x00b\n", "not_csv"),
        (b'Nimi\n"never closed\n' + b"x" * 140_000, "not_csv"),
    ],
)
def test_api_bad_files_answer_400_and_keep_nothing(api, org, data, code):
    response = api.post(URL, {"file": SimpleUploadedFile("c.csv", data)}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and response.json()["file"]
    assert not ContactImport.objects.exists()


def test_api_upload_without_a_file_and_bad_preview_input(api, org):
    assert "file" in api.post(URL, {}, format="multipart").json()
    job = upload(org)
    bad = api.post(f"{URL}{job.pk}/preview/", {"mapping": {"0": "nope"}}, format="json")
    assert bad.status_code == 400 and "mapping" in bad.json()
    bad = api.post(f"{URL}{job.pk}/preview/", {"country": "ZZ"}, format="json")
    assert bad.status_code == 400 and "country" in bad.json()


def test_api_viewer_reads_but_may_not_import(make_user, org):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    job = upload(org)
    assert client.get(f"{URL}{job.pk}/").status_code == 200
    response = client.post(URL, {"file": SimpleUploadedFile("c.csv", CSV)}, format="multipart")
    assert response.status_code == 403
    assert (
        client.post(f"{URL}{job.pk}/start/", {"mapping": MAPPING}, format="json").status_code == 403
    )
