from django.urls import path

from transparency import views

urlpatterns = [
    path("transparency/", views.transparency, name="transparency"),
    path("transparency/how-to-check/", views.how_to_check, name="transparency-verify"),
    path("transparency/report/", views.report_noncompliance, name="noncompliance-report"),
    path("transparency/report/status/", views.report_status, name="noncompliance-status"),
    path("transparency/publicity/", views.publicity, name="transparency-publicity"),
    path("noncompliance/", views.noncompliance_list, name="noncompliance-list"),
    path("noncompliance/<int:pk>/", views.noncompliance_detail, name="noncompliance-detail"),
    path("incidents/", views.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident-detail"),
]
