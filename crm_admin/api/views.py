from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import mixins, viewsets
from rest_framework.exceptions import MethodNotAllowed, NotAuthenticated
from rest_framework.generics import get_object_or_404

from crm_admin.api import filters, schema, selectors, serializers  # noqa: F401 (schema: extension)
from crm_admin.api.ordering import StableOrderingFilter
from crm_admin.api.permissions import StaffViewPermission
from crm_admin.models import Contact, Deal


class CRMReadOnlyMixin:
    permission_classes = [StaffViewPermission]
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]

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


class APIDocsView(SpectacularSwaggerSplitView):
    """Swagger UI for staff; a visitor who is not logged in goes to the admin login first.

    The split view serves Swagger UI's start-up script as a file (`?script`) instead of inline,
    so the Content-Security-Policy needs no 'unsafe-inline' for scripts.
    """

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


def not_found(request, exception):
    """handler404: an /api/ URL that no endpoint matches answers as the API does, in JSON
    (`{"detail": ...}`, as the schema documents); every other URL gets Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)
