"""The project's URLs: each app's pages and API under one root."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from config import health, views
from crm import api as crm_api
from crm import numberfix_api, numberfix_views
from crm import views as crm_views
from imports import api as imports_api
from sms import views as sms_views

router = DefaultRouter()
router.register("accounts", crm_api.AccountViewSet, basename="api-account")
router.register("contacts", crm_api.ContactViewSet, basename="api-contact")
router.register("phone-fixes", numberfix_api.PhoneFixViewSet, basename="api-phonefix")
router.register("contact-imports", imports_api.ContactImportViewSet, basename="api-contact-import")

# Under /api/, a path that matches no route and a request Django refuses answer JSON too.
handler400 = views.bad_request
handler404 = views.not_found

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", crm_views.AccountListView.as_view(), name="account-list"),
    path("accounts/<int:pk>/", crm_views.AccountDetailView.as_view(), name="account-detail"),
    path("contacts/", crm_views.ContactListView.as_view(), name="contact-list"),
    path("contacts/<int:pk>/", crm_views.ContactDetailView.as_view(), name="contact-detail"),
    path("contacts/import/", include("imports.urls")),
    path("contacts/fix-numbers/", numberfix_views.PhoneFixView.as_view(), name="phone-fix"),
    path(
        "contacts/fix-numbers/<int:pk>/",
        numberfix_views.PhoneFixDetailView.as_view(),
        name="phone-fix-detail",
    ),
    path(
        "contacts/fix-numbers/<int:pk>/undo/",
        numberfix_views.PhoneFixUndoView.as_view(),
        name="phone-fix-undo",
    ),
    path(
        "contacts/<int:pk>/sms-opt-out/",
        # The SMS app's switch: the contact's flag and the suppression list.
        sms_views.ContactSmsOptOutView.as_view(),
        name="contact-opt-out",
    ),
    path(
        "contacts/<int:pk>/legal-basis/",
        crm_views.ContactLegalBasisView.as_view(),
        name="contact-legal-basis",
    ),
    path("target-groups/", include("targetgroups.urls")),
    path("sms/", include("sms.urls")),
    # The opt-out link of marketing texts: short, since its length is billed.
    path("s/o/<str:token>", sms_views.optout_page, name="sms-optout"),
    # A short link in a text: as short as it can be (its length is billed).
    path("l/<str:code>", sms_views.short_link, name="sms-short-link"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include(router.urls)),
    path("api/v1/", include("targetgroups.api_urls")),
    path("api/v1/", include("sms.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Signed-in users only (the schema too: SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"]);
    # the split view serves its script as a file, as the Content-Security-Policy wants.
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="api-docs",
    ),
]
