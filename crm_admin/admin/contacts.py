from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from crm_admin import cells
from crm_admin.admin import actions, next_steps
from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.concurrency import OptimisticConcurrencyMixin
from crm_admin.admin.duplicates import DuplicatesAdminMixin
from crm_admin.admin.filters import (
    BoundedRangeDateTimeFilter,
    LastContactedFilter,
    OwnerFilter,
    StorableAutocompleteSelectFilter,
    StorableAutocompleteSelectMultipleFilter,
)
from crm_admin.admin.import_export import ContactImportExportMixin
from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.merge import MergeAdminMixin, merge_selected
from crm_admin.admin.mixins import ProtectedDeleteSummaryMixin
from crm_admin.admin.next_steps import NextStepAdminMixin, NextStepFilter
from crm_admin.admin.notes import ContactNoteInline, NoteAuthorMixin
from crm_admin.admin.saved_filters import SavedFiltersListMixin
from crm_admin.admin.timeline import ContactHistoryMixin
from crm_admin.models import Contact
from crm_admin.search import CONTACT_SEARCH_FIELDS

STATUS_COLOURS = {
    Contact.Status.NEW: "info",
    Contact.Status.CONTACTED: "primary",
    Contact.Status.IN_DISCUSSION: "warning",
    Contact.Status.PENDING_RESPONSE: "warning",
    Contact.Status.INACTIVE: "danger",
}
# Not get_status_display() per row: that hashes every choice's lazy label (a gettext each).
STATUS_LABELS = dict(Contact.Status.choices)


@admin.register(Contact)
class ContactAdmin(
    StrictListMixin,
    StorableKeysFormMixin,
    ContactImportExportMixin,
    actions.ActionPermissionMixin,
    MergeAdminMixin,
    DuplicatesAdminMixin,
    SavedFiltersListMixin,
    NoteAuthorMixin,
    NextStepAdminMixin,
    ContactHistoryMixin,
    ProtectedDeleteSummaryMixin,
    OptimisticConcurrencyMixin,
    ModelAdmin,
):
    list_display = [
        "display_name",
        "email",
        "phone",
        "display_company",
        "display_status",
        "display_tags",
        "last_contacted_at",
        # Last: links sort the list by the columns before it (`o=-7`).
        "display_next_step",
    ]
    list_filter = [
        ("status", ChoicesDropdownFilter),
        OwnerFilter,
        NextStepFilter,
        ("tags", StorableAutocompleteSelectMultipleFilter),
        ("company", StorableAutocompleteSelectFilter),
        LastContactedFilter,
        ("last_contacted_at", BoundedRangeDateTimeFilter),
    ]
    list_filter_submit = True
    search_fields = CONTACT_SEARCH_FIELDS
    search_help_text = _("Name, email or company")
    autocomplete_fields = ["company", "owner", "tags"]
    inlines = [ContactNoteInline]
    readonly_fields = ["last_contacted_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": [("first_name", "last_name"), ("email", "phone"), "title"]}),
        (
            _("Relationship"),
            {"fields": ["company", "owner", "status", "tags", "last_contacted_at"]},
        ),
        (_("Record"), {"fields": [("created_at", "updated_at")], "classes": ["collapse"]}),
        # Last, so it sits right above the notes inline: a note and what comes next, one save.
        next_steps.FIELDSET,
    ]
    actions = [
        actions.set_status,
        actions.set_next_step,
        actions.add_tags,
        actions.remove_tags,
        merge_selected,
    ]
    protected_relations = {"deals": _("Reassign or delete the deals first.")}

    def get_queryset(self, request):
        return super().get_queryset(request).for_admin_list()

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        return initial

    # Unfold's header and labels, drawn by cells (no template render per cell).
    @display(description=_("name"), ordering="last_name")
    def display_name(self, contact):
        return cells.header(contact.full_name, contact.title)

    @display(description=_("company"), ordering="company__name")
    def display_company(self, contact):
        return contact.company or "-"

    @display(description=_("status"), ordering="status")
    def display_status(self, contact):
        status = contact.status
        return cells.label(STATUS_LABELS.get(status, status), STATUS_COLOURS.get(status))

    @display(description=_("tags"))
    def display_tags(self, contact):
        # `tags` is prefetched by for_admin_list(): no query per row.
        return cells.labels(tag.name for tag in contact.tags.all())

    @display(description=_("next step"), ordering=next_steps.ORDER)
    def display_next_step(self, contact):
        return next_steps.step_cell(contact, today=timezone.localdate())
