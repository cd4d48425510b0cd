from django.urls import path

from audit import views

urlpatterns = [
    path("", views.timeline, name="audit-timeline"),
    path("entries/<int:seq>/", views.entry_detail, name="audit-entry"),
    path("status/", views.status, name="audit-status"),
    path("public-key.pem", views.public_key, name="audit-public-key"),
    path("verify/", views.verify_now, name="audit-verify-now"),
]
