"""The SMS API's paths, included under ``api/v1/`` by the project's urls."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from sms import api

router = DefaultRouter()
router.register("sms/sendouts", api.SendoutViewSet, basename="api-sendout")
router.register("sms/replies", api.ReplyViewSet, basename="api-reply")
router.register("sms/templates", api.MessageTemplateViewSet, basename="api-sms-template")

urlpatterns = [
    path("sms/quota/", api.QuotaView.as_view(), name="api-sms-quota"),
    path("target-groups/<int:pk>/sms/options/", api.OptionsView.as_view(), name="api-sms-options"),
    path("target-groups/<int:pk>/sms/preview/", api.PreviewView.as_view(), name="api-sms-preview"),
    path("target-groups/<int:pk>/sms/skipped/", api.SkippedView.as_view(), name="api-sms-skipped"),
    path("target-groups/<int:pk>/sms/test/", api.TestSendView.as_view(), name="api-sms-test"),
    path(
        "target-groups/<int:pk>/sms/legal-basis/",
        api.LegalBasisView.as_view(),
        name="api-sms-legal-basis",
    ),
    path(
        "target-groups/<int:pk>/sms/sendouts/",
        api.SendoutCreateView.as_view(),
        name="api-sms-sendout-create",
    ),
    path(
        "contacts/<int:pk>/sms-history/",
        api.ContactSmsHistoryView.as_view(),
        name="api-contact-sms-history",
    ),
    *router.urls,
]
