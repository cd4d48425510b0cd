from django.urls import path

from evaluations import views

urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("models/<slug:slug>/", views.model_detail, name="model-detail"),
    path("models/<slug:slug>/lineage/confirm/", views.lineage_confirm, name="lineage-confirm"),
    path("models/<slug:slug>/checkpoints/new/", views.checkpoint_create, name="checkpoint-create"),
    path("models/<slug:slug>/results/new/", views.result_create, name="result-create"),
    path("models/<slug:slug>/import/", views.result_import, name="result-import"),
    path("results/<int:pk>/correct/", views.result_correct, name="result-correct"),
    path("corrections/", views.correction_list, name="correction-list"),
    path("corrections/<int:pk>/", views.correction_decide, name="correction-decide"),
    path("metrics/<str:key>/mappings/", views.metric_mappings, name="metric-mappings"),
]
