"""Every page works under the strict Content-Security-Policy: the `page` fixture
(tests/e2e/conftest.py) fails a test on any violation; this one visits every page,
as a member and as a superuser in the admin, and checks that each one's script ran."""

import pytest

from crm.models import Role
from tests.factories import create_sendout
from tests.hostile import build_world


@pytest.fixture
def world(org, make_user):
    admin = make_user(org, role=Role.ADMIN, is_staff=True, is_superuser=True)
    return admin, build_world(org, admin)


def test_fixture_catches_a_violation(page, csp_violations) -> None:
    page.goto("/login/")
    # An inline script, as an injected page would hold: refused, and reported.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = 1'; document.body.append(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None
    assert csp_violations and "script-src" in csp_violations[0]
    csp_violations.clear()  # expected here; any other test fails on one


@pytest.mark.django_db(transaction=True)
def test_every_page_works_under_the_policy(page, login, world, screenshot) -> None:
    admin, w = world
    sendout = create_sendout(target_group=w.target_group, created_by=admin, body="Hei!")
    login(admin.username)
    pages = [
        "/contacts/",
        f"/contacts/{w.contact.pk}/",
        "/accounts/",
        f"/accounts/{w.account.pk}/",
        "/target-groups/",
        "/target-groups/new/",
        f"/target-groups/{w.target_group.pk}/",
        f"/target-groups/{w.target_group.pk}/members/",
        f"/target-groups/{w.target_group.pk}/sms/",
        f"/target-groups/{w.target_group.pk}/delete/",
        f"/sms/sendouts/{sendout.pk}/",
        "/admin/",
        "/admin/crm/contact/",
        f"/admin/crm/contact/{w.contact.pk}/change/",
        "/admin/sms/sendout/",
        "/api/docs/",
    ]
    for path in pages:
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
    # The scripts ran: the condition builder drew its rows, the sendout page its
    # progress, Swagger UI the operations.
    page.goto(f"/target-groups/{w.target_group.pk}/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#live-count").inner_text().strip() != ""
    page.goto(f"/sms/sendouts/{sendout.pk}/")
    page.wait_for_function(
        "() => document.getElementById('sendout-progress-text').textContent.trim() !== ''"
    )
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)
    screenshot("api-docs-under-csp")
