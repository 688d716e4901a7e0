from django.urls import path

from targetgroups import views

urlpatterns = [
    path("", views.TargetGroupListView.as_view(), name="targetgroup-list"),
]
