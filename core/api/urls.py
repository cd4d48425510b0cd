from django.urls import path

from core.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="api-me"),
    path(
        "policy-activations/",
        views.PolicyActivationList.as_view(),
        name="api-policy-activations",
    ),
    path(
        "policy-activations/<int:pk>/sign/",
        views.PolicyActivationSign.as_view(),
        name="api-policy-activation-sign",
    ),
]
