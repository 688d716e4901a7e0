"""The SMS API's paths, included under ``api/v1/`` by the project's urls."""

from django.urls import path

from sms import api

urlpatterns = [
    path("sms/quota/", api.QuotaView.as_view(), name="api-sms-quota"),
]
