from django.urls import path

from transparency.api import views

urlpatterns = [
    path("transparency/", views.TransparencyView.as_view(), name="api-transparency"),
    path("noncompliance/", views.NoncomplianceView.as_view(), name="api-noncompliance"),
    path(
        "noncompliance/status/",
        views.NoncomplianceStatusView.as_view(),
        name="api-noncompliance-status",
    ),
]
