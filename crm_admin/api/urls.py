"""The CRM's API, for a host project to include once: `path("api/crm/", include(
"crm_admin.api.urls"))`. The lists and details, the browsable root, the OpenAPI schema
(`schema/`) and Swagger UI (`docs/`)."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from crm_admin.api import views

app_name = "crm_api"

router = DefaultRouter()
router.APIRootView = views.APIRootView
router.register("companies", views.CompanyViewSet, basename="company")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("deals", views.DealViewSet, basename="deal")
router.register("stages", views.StageViewSet, basename="stage")
router.register("tags", views.TagViewSet, basename="tag")
# At most 18 digits: every such id fits the database's bigint.
router.register(
    r"contacts/(?P<contact_id>[0-9]{1,18})/notes",
    views.ContactNoteViewSet,
    basename="contact-note",
)
router.register(
    r"deals/(?P<deal_id>[0-9]{1,18})/notes",
    views.DealNoteViewSet,
    basename="deal-note",
)

urlpatterns = [
    *router.urls,
    path("schema/", views.SchemaView.as_view(), name="schema"),
    path("docs/", views.APIDocsView.as_view(), name="docs"),
]
