from django.urls import path

from policies import views

urlpatterns = [
    path("", views.active, name="policy-active"),
    path("versions/", views.version_list, name="policy-versions"),
    path("versions/<int:pk>/", views.version_detail, name="policy-version"),
    path("versions/<int:pk>/activate/", views.activate, name="policy-activate"),
    path(
        "versions/<int:pk>/request-activation/",
        views.request_activation,
        name="policy-request-activation",
    ),
    path("activations/", views.activation_list, name="policy-activations"),
    path("activations/<int:pk>/", views.activation_detail, name="policy-activation"),
    path("diff/", views.diff, name="policy-diff"),
    path("compare/", views.compare, name="policy-compare"),
    path("history/", views.history, name="policy-history"),
    path("self-assessment/", views.self_assessment, name="policy-self-assessment"),
]
