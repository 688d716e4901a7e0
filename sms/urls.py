from django.urls import path

from sms import views, webhooks

urlpatterns = [
    path("sendouts/<int:pk>/", views.SendoutDetailView.as_view(), name="sms-sendout-detail"),
    path("scheduled/", views.ScheduledListView.as_view(), name="sms-scheduled"),
    path("sendouts/<int:pk>/cancel/", views.SendoutCancelView.as_view(), name="sms-sendout-cancel"),
    path(
        "sendouts/<int:pk>/reschedule/",
        views.SendoutRescheduleView.as_view(),
        name="sms-sendout-reschedule",
    ),
    path("replies/", views.ReplyListView.as_view(), name="sms-replies"),
    path("replies/read/", views.RepliesReadView.as_view(), name="sms-replies-read"),
    path(
        "sendouts/<int:pk>/export.csv", views.SendoutExportView.as_view(), name="sms-sendout-export"
    ),
    path("webhooks/twilio/status/", webhooks.twilio_status, name="sms-webhook-status"),
    path("webhooks/twilio/inbound/", webhooks.twilio_inbound, name="sms-webhook-inbound"),
]
