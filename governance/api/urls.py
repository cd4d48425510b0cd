from django.urls import path

from governance.api import views

urlpatterns = [
    path(
        "models/<slug:slug>/gate/",
        views.with_stored_bytes(views.GateView.as_view()),
        name="api-gate",
    ),
    path(
        "models/<slug:slug>/safeguards/", views.SafeguardListView.as_view(), name="api-safeguards"
    ),
    path(
        "models/<slug:slug>/safeguards/<str:requirement_code>/",
        views.SafeguardRecordView.as_view(),
        name="api-safeguard-record",
    ),
    path(
        "models/<slug:slug>/precautions/",
        views.PrecautionListView.as_view(),
        name="api-precautions",
    ),
    path("models/<slug:slug>/pause/", views.PauseView.as_view(), name="api-pause"),
    path("models/<slug:slug>/history/", views.HistoryView.as_view(), name="api-gate-history"),
    path("decisions/", views.DecisionListView.as_view(), name="api-decisions"),
    path("decisions/<int:pk>/", views.DecisionDetailView.as_view(), name="api-decision"),
    path("decisions/<int:pk>/approve/", views.ApproveView.as_view(), name="api-decision-approve"),
    path("decisions/<int:pk>/reject/", views.RejectView.as_view(), name="api-decision-reject"),
]
