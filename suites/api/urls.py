from django.urls import path

from suites.api import views

urlpatterns = [
    path("suites/", views.SuiteList.as_view(), name="api-suite-list"),
    path("suites/<slug:slug>/run/", views.SuiteRunRequest.as_view(), name="api-suite-run"),
    path("runs/<int:pk>/", views.RunDetail.as_view(), name="api-run-detail"),
]
