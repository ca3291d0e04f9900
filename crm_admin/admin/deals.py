from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import (
    AutocompleteSelectMultipleFilter,
    ChoicesDropdownFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import display

from crm_admin.admin.notes import DealNoteInline, NoteAuthorMixin
from crm_admin.models import Deal, Stage

OUTCOME_COLOURS = {
    Stage.Outcome.OPEN: "info",
    Stage.Outcome.WON: "success",
    Stage.Outcome.LOST: "danger",
}


@admin.register(Deal)
class DealAdmin(NoteAuthorMixin, ModelAdmin):
    list_display = [
        "title",
        "display_contact",
        "display_company",
        "display_stage",
        "display_amount",
        "display_probability",
        "owner",
        "expected_close_date",
    ]
    list_filter = [
        ("stage", RelatedDropdownFilter),
        ("stage__outcome", ChoicesDropdownFilter),
        ("owner", RelatedDropdownFilter),
        ("tags", AutocompleteSelectMultipleFilter),
    ]
    list_filter_submit = True
    search_fields = ["title", "contact__email", "contact__last_name", "contact__company__name"]
    search_help_text = _("Title, contact email or name, company")
    autocomplete_fields = ["contact", "owner", "tags"]
    inlines = [DealNoteInline]
    readonly_fields = ["display_company", "closed_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["title", ("contact", "display_company"), "owner", "tags"]}),
        (
            _("Pipeline"),
            {"fields": [("stage", "probability"), ("amount", "expected_close_date"), "closed_at"]},
        ),
        (_("Record"), {"fields": [("created_at", "updated_at")], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).for_admin_list()

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        first_open = Stage.objects.filter(outcome=Stage.Outcome.OPEN).first()
        if first_open is not None:
            initial.setdefault("stage", first_open.pk)
        return initial

    @display(description=_("contact"), ordering="contact__last_name")
    def display_contact(self, deal):
        return deal.contact.full_name

    @display(description=_("company"), ordering="contact__company__name")
    def display_company(self, deal):
        return deal.company or "-"

    @display(description=_("stage"), ordering="stage__order", label=OUTCOME_COLOURS)
    def display_stage(self, deal):
        return deal.stage.outcome, deal.stage.name

    @display(description=_("amount"), ordering="amount")
    def display_amount(self, deal):
        return "-" if deal.amount is None else f"{deal.amount:,.2f}"

    @display(description=_("probability"), ordering="probability")
    def display_probability(self, deal):
        return f"{deal.probability}%"
