from django.urls import path

from targetgroups import views

urlpatterns = [
    path("", views.TargetGroupListView.as_view(), name="targetgroup-list"),
    path("new/", views.TargetGroupCreateView.as_view(), name="targetgroup-create"),
    path("<int:pk>/", views.TargetGroupDetailView.as_view(), name="targetgroup-detail"),
    path("<int:pk>/members/", views.TargetGroupMembersView.as_view(), name="targetgroup-members"),
    path("<int:pk>/sms/", views.TargetGroupSmsView.as_view(), name="targetgroup-sms"),
    *[
        path(
            f"<int:pk>/members/{action}/",
            views.TargetGroupHandPickView.as_view(),
            {"action": action},
            name=f"targetgroup-{action}",
        )
        for action in ("include", "exclude", "reset")
    ],
    path(
        "<int:pk>/fix-numbers/",
        views.TargetGroupPhoneFixView.as_view(),
        name="targetgroup-phone-fix",
    ),
    path("<int:pk>/delete/", views.TargetGroupDeleteView.as_view(), name="targetgroup-delete"),
]
