from django.urls import path

from suites import views

urlpatterns = [
    path("suites/", views.suite_list, name="suite-list"),
    path("suites/<slug:slug>/", views.suite_detail, name="suite-detail"),
    path("suites/<slug:slug>/run/", views.suite_run_now, name="suite-run-now"),
    path("runs/<int:pk>/", views.run_detail, name="suite-run-detail"),
    path("runs/<int:pk>/status/", views.run_status, name="suite-run-status"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="suite-run-cancel"),
]
