from django.urls import path
from rest_framework.routers import SimpleRouter

from policies.api import views

router = SimpleRouter()
router.register("policy/versions", views.PolicyVersionViewSet, basename="api-policy-version")

urlpatterns = [
    path("policy/", views.ActivePolicyView.as_view(), name="api-policy"),
    path("policy/diff/", views.PolicyDiffView.as_view(), name="api-policy-diff"),
    path(
        "policy-activations/",
        views.PolicyActivationList.as_view(),
        name="api-policy-activations",
    ),
    path(
        "policy-activations/<int:pk>/",
        views.PolicyActivationDetail.as_view(),
        name="api-policy-activation",
    ),
    path(
        "policy-activations/<int:pk>/sign/",
        views.PolicyActivationSign.as_view(),
        name="api-policy-activation-sign",
    ),
    *router.urls,
]
