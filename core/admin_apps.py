"""The admin app with the portal's site (core.admin_site); kept apart so that loading the app
registry imports no models."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    default_site = "core.admin_site.PortalAdminSite"
