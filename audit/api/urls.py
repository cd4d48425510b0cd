from django.urls import path

from audit.api import views

urlpatterns = [
    path("", views.AuditEntryList.as_view(), name="api-audit-list"),
    path("export/", views.AuditExport.as_view(), name="api-audit-export"),
    path("verify/", views.AuditVerify.as_view(), name="api-audit-verify"),
    path("key/", views.AuditPublicKey.as_view(), name="api-audit-key"),
    path("witness/", views.AuditWitness.as_view(), name="api-audit-witness"),
]
