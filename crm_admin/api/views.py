from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import defaults
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import patched_settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import mixins, routers, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import MethodNotAllowed, NotAuthenticated
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAdminUser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer

from crm_admin.api import filters, selectors, serializers
from crm_admin.api.ordering import StableOrderingFilter
from crm_admin.api.pagination import CRMPagination
from crm_admin.api.permissions import StaffViewPermission

# Importing the schema module registers its filter extension before any schema is made.
from crm_admin.api.schema import SPECTACULAR_SETTINGS
from crm_admin.api.throttles import TokenRateThrottle
from crm_admin.models import Contact, Deal


class CRMAPIMixin:
    """How every CRM endpoint authenticates and throttles, set here rather than read from
    REST_FRAMEWORK, which is the host project's: a token first (an anonymous request is told
    how to authenticate: 401, WWW-Authenticate), then the admin's session."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    throttle_classes = [TokenRateThrottle]
    versioning_class = None
    # drf-spectacular's, whatever REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS is: its generator
    # refuses a view with another, even one it leaves out.
    schema = AutoSchema()


class APIRootView(CRMAPIMixin, routers.APIRootView):
    """The browsable root, linking the lists: for staff."""

    permission_classes = [IsAdminUser]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    schema = None  # not an operation of the API, as for DRF's own root


class CRMReadOnlyMixin(CRMAPIMixin):
    permission_classes = [StaffViewPermission]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    pagination_class = CRMPagination

    def initial(self, request, *args, **kwargs):
        # The API is read-only whoever asks: a write is refused for what it is (405) before
        # authentication, so a session without a CSRF token does not get a misleading 403.
        if not hasattr(self, request.method.lower()):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)


class CompanyViewSet(CRMReadOnlyMixin, viewsets.ReadOnlyModelViewSet):
    """Companies, each with its number of contacts."""

    serializer_class = serializers.CompanySerializer
    filterset_class = filters.CompanyFilterSet
    ordering_fields = ["name", "industry", "contact_count", "created_at", "updated_at"]

    def get_queryset(self):
        return selectors.companies_for_api()


class ContactViewSet(CRMReadOnlyMixin, viewsets.ReadOnlyModelViewSet):
    """Contacts with their company (id and name) and tag names."""

    serializer_class = serializers.ContactSerializer
    filterset_class = filters.ContactFilterSet
    ordering_fields = [
        "last_name",
        "first_name",
        "email",
        "status",
        "company__name",
        "last_contacted_at",
        "next_step_due",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self):
        return selectors.contacts_for_api()


class DealViewSet(CRMReadOnlyMixin, viewsets.ReadOnlyModelViewSet):
    """Deals with their stage, contact, company, owner and tag names."""

    serializer_class = serializers.DealSerializer
    filterset_class = filters.DealFilterSet
    ordering_fields = [
        "title",
        "amount",
        "probability",
        "expected_close_date",
        "next_step_due",
        "stage__order",
        "closed_at",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self):
        # Another rep's deal is a 404 like a deal that does not exist: visibility "own".
        return selectors.deals_for_api(user=self.request.user)


class StageViewSet(CRMReadOnlyMixin, viewsets.ReadOnlyModelViewSet):
    """Pipeline stages in pipeline order."""

    serializer_class = serializers.StageSerializer
    ordering_fields = ["order", "name"]

    def get_queryset(self):
        return selectors.stages_for_api()


class TagViewSet(CRMReadOnlyMixin, viewsets.ReadOnlyModelViewSet):
    """Tags by name."""

    serializer_class = serializers.TagSerializer
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return selectors.tags_for_api()


class NoteViewSet(CRMReadOnlyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """One record's notes, newest first; a subclass names the parent and its URL keyword."""

    ordering_fields = ["created_at"]
    parent_model: type
    notes_for_api: staticmethod

    def parents(self):
        """The records whose notes this endpoint lists; another one's URL is a 404."""
        return self.parent_model.objects.all()

    @property
    def viewed_models(self):
        return (self.get_serializer_class().Meta.model, self.parent_model)

    @property
    def parent_kwarg(self) -> str:
        return f"{self.parent_model._meta.model_name}_id"

    def get_queryset(self):
        return self.notes_for_api(**{self.parent_kwarg: self.kwargs.get(self.parent_kwarg)})

    def list(self, request, *args, **kwargs):
        get_object_or_404(self.parents().only("pk"), pk=kwargs[self.parent_kwarg])
        return super().list(request, *args, **kwargs)


class ContactNoteViewSet(NoteViewSet):
    """One contact's notes, newest first."""

    serializer_class = serializers.ContactNoteSerializer
    filterset_class = filters.ContactNoteFilterSet
    parent_model = Contact
    notes_for_api = staticmethod(selectors.contact_notes_for_api)


class DealNoteViewSet(NoteViewSet):
    """One deal's notes, newest first."""

    serializer_class = serializers.DealNoteSerializer
    filterset_class = filters.DealNoteFilterSet
    parent_model = Deal

    def parents(self):
        # An invisible deal's notes answer 404, as its detail does (visibility "own").
        return selectors.visible_deals_for_api(user=self.request.user)

    def notes_for_api(self, *, deal_id):
        return selectors.deal_notes_for_api(deal_id=deal_id, user=self.request.user)


class SchemaView(CRMAPIMixin, SpectacularAPIView):
    """The OpenAPI schema of the CRM's endpoints (YAML; JSON with `Accept:
    application/json`), for staff, generated with the CRM's own schema settings."""

    permission_classes = [IsAdminUser]
    custom_settings = SPECTACULAR_SETTINGS
    schema = None  # not an operation of the API


class APIDocsView(CRMAPIMixin, SpectacularSwaggerSplitView):
    """Swagger UI for staff; a visitor who is not logged in goes to the admin login first.

    The split view serves Swagger UI's start-up script as a file (`?script`) instead of inline,
    so the Content-Security-Policy needs no 'unsafe-inline' for scripts. Its files and options
    are the CRM's schema settings (self-hosted Swagger UI, no online validator).
    """

    permission_classes = [IsAdminUser]
    title = SPECTACULAR_SETTINGS["TITLE"]
    url_name = "crm_api:schema"
    schema = None  # not an operation of the API

    def get(self, request, *args, **kwargs):
        with patched_settings(SPECTACULAR_SETTINGS):
            return super().get(request, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated):
            # The admin's login, whatever the host project's LOGIN_URL is.
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)


def not_found(request, exception):
    """handler404: an /api/ URL that no endpoint matches answers as the API does, in JSON
    (`{"detail": ...}`, as the schema documents); every other URL gets Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)
