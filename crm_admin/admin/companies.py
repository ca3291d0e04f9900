from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import FieldTextFilter
from unfold.decorators import display

from crm_admin.admin.actions import ActionPermissionMixin
from crm_admin.admin.concurrency import OptimisticConcurrencyMixin
from crm_admin.admin.duplicates import DuplicatesAdminMixin
from crm_admin.admin.import_export import CompanyImportExportMixin
from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.merge import MergeAdminMixin, merge_selected
from crm_admin.admin.mixins import ProtectedDeleteSummaryMixin
from crm_admin.admin.saved_filters import SavedFiltersListMixin
from crm_admin.admin.timeline import CompanyHistoryMixin
from crm_admin.models import Company
from crm_admin.search import COMPANY_SEARCH_FIELDS


@admin.register(Company)
class CompanyAdmin(
    StrictListMixin,
    CompanyImportExportMixin,
    ActionPermissionMixin,
    MergeAdminMixin,
    DuplicatesAdminMixin,
    SavedFiltersListMixin,
    CompanyHistoryMixin,
    ProtectedDeleteSummaryMixin,
    OptimisticConcurrencyMixin,
    ModelAdmin,
):
    list_display = ["name", "industry", "website", "display_contact_count"]
    list_filter = [("industry", FieldTextFilter)]
    list_filter_submit = True
    search_fields = COMPANY_SEARCH_FIELDS
    search_help_text = _("Name, industry or website")
    readonly_fields = ["created_at", "updated_at"]
    fields = ["name", "industry", "website", ("created_at", "updated_at")]
    actions = [merge_selected]
    # A website typed without a scheme is taken as https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    protected_relations = {
        "contacts": _("Move the contacts to another company or delete them first.")
    }

    def get_queryset(self, request):
        return super().get_queryset(request).with_contact_count()

    @display(description=_("contacts"), ordering="contact_count")
    def display_contact_count(self, company):
        return company.contact_count
