from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from crm_admin.api.views import APIDocsView, SchemaView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # The CRM's API, its schema and docs, as README "Add the CRM to an existing Django
    # project" includes them.
    path("api/crm/", include("crm_admin.api.urls")),
    # The schema's and the docs' addresses from before they moved under api/crm/, kept for
    # the integrations that read them.
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", APIDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

# An /api/ address that no endpoint matches answers in JSON, as the API does.
handler404 = "crm_admin.api.views.not_found"
