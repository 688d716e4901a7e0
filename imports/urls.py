from django.urls import path

from imports import views

urlpatterns = [
    path("", views.ImportUploadView.as_view(), name="contact-import"),
    path("<int:pk>/", views.ImportDetailView.as_view(), name="contact-import-detail"),
    path(
        "<int:pk>/not-imported.csv",
        views.ImportRejectedView.as_view(),
        name="contact-import-rejected",
    ),
]
