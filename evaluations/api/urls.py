from django.urls import path

from evaluations.api import views

urlpatterns = [
    path("models/", views.ModelList.as_view(), name="api-model-list"),
    path("models/<slug:slug>/", views.ModelDetail.as_view(), name="api-model-detail"),
    path(
        "models/<slug:slug>/lineage/confirm/",
        views.LineageConfirm.as_view(),
        name="api-model-lineage-confirm",
    ),
    path(
        "models/<slug:slug>/checkpoints/",
        views.CheckpointList.as_view(),
        name="api-checkpoint-list",
    ),
    path("results/", views.ResultList.as_view(), name="api-result-list"),
    path("results/bulk/", views.ResultBulk.as_view(), name="api-result-bulk"),
    path("results/import/", views.ResultImport.as_view(), name="api-result-import"),
    path("results/detect/", views.ResultDetect.as_view(), name="api-result-detect"),
    path("mappings/", views.MappingList.as_view(), name="api-mapping-list"),
    path("results/<int:pk>/correct/", views.ResultCorrect.as_view(), name="api-result-correct"),
    path("corrections/", views.CorrectionList.as_view(), name="api-correction-list"),
    path(
        "corrections/<int:pk>/confirm/",
        views.CorrectionConfirm.as_view(),
        name="api-correction-confirm",
    ),
    path(
        "corrections/<int:pk>/reject/",
        views.CorrectionReject.as_view(),
        name="api-correction-reject",
    ),
]
