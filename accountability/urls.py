from django.urls import path

from accountability import views

urlpatterns = [
    path("reports/", views.report_list, name="report-list"),
    path("reports/new/", views.report_new, name="report-new"),
    path("reports/<int:pk>/", views.report_detail, name="report-detail"),
    path("reports/<int:pk>/revise/", views.report_revise, name="report-revise"),
    path("reports/<int:pk>/print/", views.report_print, name="report-print"),
    path("reports/<int:pk>/review/", views.report_review, name="report-review"),
    path("reviews/", views.reviewer_home, name="reviewer-home"),
    path("reviews/grants/<int:pk>/<str:verb>/", views.grant_decide, name="grant-decide"),
    path("commitments/", views.commitment_list, name="commitment-list"),
    path("commitments/<str:key>/fulfil/", views.commitment_fulfil, name="commitment-fulfil"),
    path("models/<slug:slug>/late-evaluations/", views.late_evaluations, name="late-evaluations"),
]
