from django.contrib.auth.views import redirect_to_login
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import mixins, viewsets
from rest_framework.exceptions import MethodNotAllowed, NotAuthenticated
from rest_framework.generics import get_object_or_404

from crm_admin.api import filters, selectors, serializers
from crm_admin.api.ordering import StableOrderingFilter
from crm_admin.api.permissions import StaffViewPermission
from crm_admin.models import Contact, ContactNote, Deal, DealNote


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
        "stage__order",
        "closed_at",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self):
        return selectors.deals_for_api()


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


class ContactNoteViewSet(CRMReadOnlyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """One contact's notes, newest first."""

    serializer_class = serializers.ContactNoteSerializer
    filterset_class = filters.ContactNoteFilterSet
    ordering_fields = ["created_at"]
    viewed_models = (ContactNote, Contact)

    def get_queryset(self):
        return selectors.contact_notes_for_api(contact_id=self.kwargs.get("contact_id"))

    def list(self, request, *args, **kwargs):
        get_object_or_404(Contact.objects.only("pk"), pk=kwargs["contact_id"])
        return super().list(request, *args, **kwargs)


class DealNoteViewSet(CRMReadOnlyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """One deal's notes, newest first."""

    serializer_class = serializers.DealNoteSerializer
    filterset_class = filters.DealNoteFilterSet
    ordering_fields = ["created_at"]
    viewed_models = (DealNote, Deal)

    def get_queryset(self):
        return selectors.deal_notes_for_api(deal_id=self.kwargs.get("deal_id"))

    def list(self, request, *args, **kwargs):
        get_object_or_404(Deal.objects.only("pk"), pk=kwargs["deal_id"])
        return super().list(request, *args, **kwargs)


class APIDocsView(SpectacularSwaggerView):
    """Swagger UI for staff; a visitor who is not logged in goes to the admin login first."""

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
