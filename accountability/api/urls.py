from django.urls import path

from accountability.api import views

urlpatterns = [
    path("reports/", views.ReportListView.as_view(), name="api-reports"),
    path("reports/<int:pk>/", views.ReportDetailView.as_view(), name="api-report"),
    path("reports/<int:pk>/revise/", views.ReportReviseView.as_view(), name="api-report-revise"),
    path("reports/<int:pk>/sign/", views.ReportSignView.as_view(), name="api-report-sign"),
    path("reports/<int:pk>/publish/", views.ReportPublishView.as_view(), name="api-report-publish"),
    path("reports/<int:pk>/reviews/", views.ReportReviewView.as_view(), name="api-report-reviews"),
    path("reviewer-grants/", views.GrantListView.as_view(), name="api-reviewer-grants"),
    path(
        "reviewer-grants/<int:pk>/<str:verb>/",
        views.GrantDecideView.as_view(),
        name="api-reviewer-grant-decide",
    ),
    path("commitments/", views.CommitmentListView.as_view(), name="api-commitments"),
    path(
        "commitments/<str:key>/fulfil/",
        views.CommitmentFulfilView.as_view(),
        name="api-commitment-fulfil",
    ),
    path(
        "models/<slug:slug>/late-evaluations/",
        views.LateEvaluationView.as_view(),
        name="api-late-evaluations",
    ),
]
