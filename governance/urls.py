from django.urls import path

from governance import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("decisions/", views.decision_list, name="decision-list"),
    path("decisions/<int:pk>/", views.decision_detail, name="decision-detail"),
    path("decisions/<int:pk>/print/", views.decision_print, name="decision-print"),
    path("models/<slug:slug>/decide/", views.decision_request, name="decision-request"),
    path("models/<slug:slug>/safeguards/", views.safeguard_checklist, name="safeguards"),
    path("models/<slug:slug>/precautions/", views.precautions, name="precautions"),
    path("models/<slug:slug>/pause/", views.pause_model, name="pause-model"),
    path("models/<slug:slug>/gate-panel/", views.gate_panel, name="gate-panel"),
    path("models/<slug:slug>/gate/as-of/", views.gate_as_of, name="gate-as-of"),
    path("gate/as-of/", views.gate_as_of_any, name="gate-as-of-any"),
    path("notifications/", views.subscriptions, name="subscriptions"),
    path("notifications/new/", views.subscription_edit, name="subscription-new"),
    path("notifications/<int:pk>/", views.subscription_edit, name="subscription-edit"),
    path("notifications/<int:pk>/delete/", views.subscription_delete, name="subscription-delete"),
]
