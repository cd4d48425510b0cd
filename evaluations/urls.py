from django.urls import path

from evaluations import suite_views, views

urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("models/<slug:slug>/", views.model_detail, name="model-detail"),
    path("models/<slug:slug>/results/new/", views.result_create, name="result-create"),
    path("models/<slug:slug>/import/", views.result_import, name="result-import"),
    path("results/<int:pk>/correct/", views.result_correct, name="result-correct"),
    path("metrics/<str:key>/mappings/", views.metric_mappings, name="metric-mappings"),
    # Evaluation suites and their runs.
    path("suites/", suite_views.suite_list, name="suite-list"),
    path("suites/<slug:slug>/", suite_views.suite_detail, name="suite-detail"),
    path("suites/<slug:slug>/run/", suite_views.suite_run_now, name="suite-run-now"),
    path("runs/<int:pk>/", suite_views.run_detail, name="suite-run-detail"),
    path("runs/<int:pk>/status/", suite_views.run_status, name="suite-run-status"),
    path("runs/<int:pk>/cancel/", suite_views.run_cancel, name="suite-run-cancel"),
]
