"""URL routes. Every page requires a signed-in user and every API route a session or token,
except ``/healthz`` and the login page (see rsp_portal.middleware)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.views import healthz
from rsp_portal.api_views import SchemaPermissionMixin

api_v1 = [
    path(
        "schema/",
        SchemaPermissionMixin.wrap(SpectacularAPIView).as_view(),
        name="api-schema",
    ),
    path(
        "docs/",
        SchemaPermissionMixin.wrap(SpectacularSwaggerSplitView).as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path("", include("core.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("evaluations.api.urls")),
    path("", include("suites.api.urls")),
    path("", include("governance.api.urls")),
    path("", include("accountability.api.urls")),
    path("", include("transparency.api.urls")),
    path("audit/", include("audit.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # first: probes resolve without a search
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("policy/", include("policies.urls")),
    path("", include("evaluations.urls")),
    path("", include("suites.urls")),
    path("", include("governance.urls")),
    path("", include("accountability.urls")),
    path("", include("transparency.urls")),
    path("audit/", include("audit.urls")),
    path("", include("core.urls")),
]

handler404 = "rsp_portal.api_views.not_found"
handler500 = "rsp_portal.api_views.server_error"
