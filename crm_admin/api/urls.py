from rest_framework.routers import DefaultRouter

from crm_admin.api import views

app_name = "crm_api"

router = DefaultRouter()
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

urlpatterns = router.urls
