from django.urls import path

from evaluations.api import suites, views

urlpatterns = [
    path("models/", views.ModelList.as_view(), name="api-model-list"),
    path("models/<slug:slug>/", views.ModelDetail.as_view(), name="api-model-detail"),
    path(
        "models/<slug:slug>/checkpoints/",
        views.CheckpointList.as_view(),
        name="api-checkpoint-list",
    ),
    path("results/", views.ResultList.as_view(), name="api-result-list"),
    path("results/bulk/", views.ResultBulk.as_view(), name="api-result-bulk"),
    path("results/import/", views.ResultImport.as_view(), name="api-result-import"),
    path("mappings/", views.MappingList.as_view(), name="api-mapping-list"),
    path("results/<int:pk>/correct/", views.ResultCorrect.as_view(), name="api-result-correct"),
    path("suites/", suites.SuiteList.as_view(), name="api-suite-list"),
    path("suites/<slug:slug>/run/", suites.SuiteRunRequest.as_view(), name="api-suite-run"),
    path("runs/<int:pk>/", suites.RunDetail.as_view(), name="api-run-detail"),
]
