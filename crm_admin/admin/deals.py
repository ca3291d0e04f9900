from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.decorators import action, display

from crm_admin import cells, services
from crm_admin.admin import actions
from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.board import PipelineBoardMixin
from crm_admin.admin.concurrency import OptimisticConcurrencyMixin
from crm_admin.admin.filters import (
    BoundedRangeFilter,
    ClosedFilter,
    DealOwnerFilter,
    DealStatusFilter,
    ExpectedCloseFilter,
    StorableAutocompleteSelectMultipleFilter,
)
from crm_admin.admin.import_export import DealImportExportMixin
from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.notes import DealNoteInline, NoteAuthorMixin
from crm_admin.admin.saved_filters import SavedFiltersListMixin
from crm_admin.formats import format_money
from crm_admin.models import Deal, Stage
from crm_admin.search import DEAL_SEARCH_FIELDS

OUTCOME_COLOURS = {
    Stage.Outcome.OPEN: "info",
    Stage.Outcome.WON: "success",
    Stage.Outcome.LOST: "danger",
}


@admin.register(Deal)
class DealAdmin(
    StrictListMixin,
    StorableKeysFormMixin,
    DealImportExportMixin,
    actions.ActionPermissionMixin,
    PipelineBoardMixin,
    SavedFiltersListMixin,
    NoteAuthorMixin,
    OptimisticConcurrencyMixin,
    ModelAdmin,
):
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
        DealStatusFilter,
        ("stage", RelatedDropdownFilter),
        DealOwnerFilter,
        ("tags", StorableAutocompleteSelectMultipleFilter),
        ExpectedCloseFilter,
        ClosedFilter,
        ("probability", BoundedRangeFilter),
        ("amount", BoundedRangeFilter),
    ]
    list_filter_submit = True
    search_fields = DEAL_SEARCH_FIELDS
    search_help_text = _("Title, contact name or email, company")
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
    actions = [
        actions.mark_won,
        actions.mark_lost,
        actions.move_to_stage,
        actions.assign_owner,
        actions.add_tags,
        actions.remove_tags,
    ]
    actions_detail = ["mark_won_detail", "mark_lost_detail"]

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

    @display(description=_("stage"), ordering="stage__order")
    def display_stage(self, deal):
        # Unfold's label, drawn by cells (no template render per cell).
        return cells.label(deal.stage.name, OUTCOME_COLOURS.get(deal.stage.outcome))

    @display(description=_("amount"), ordering="amount")
    def display_amount(self, deal):
        return format_money(deal.amount, currency=False)

    @display(description=_("probability"), ordering="probability")
    def display_probability(self, deal):
        return f"{deal.probability}%"

    def _close_from_page(self, request, object_id, service, done):
        deal = self.get_object(request, unquote(object_id))
        if deal is None:
            raise Http404(_("No deal with that id."))
        url = reverse("admin:crm_admin_deal_change", args=[deal.pk])
        try:
            count = service(deals=Deal.objects.filter(pk=deal.pk), actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.message_user(request, done if count else _("Nothing to change."), messages.SUCCESS)
        if request.headers.get("HX-Request"):
            # The button's dialog posts through htmx: tell it to load the page anew.
            return HttpResponse(headers={"HX-Redirect": url})
        return HttpResponseRedirect(url)

    @action(
        description=_("Mark won"),
        url_path="mark-won",
        permissions=["change"],
        icon="emoji_events",
        dialog={
            "title": _("Mark this deal as won?"),
            "description": _(
                "It moves to the first won stage with probability 100% and closes today."
            ),
            "form_submit_text": _("Mark won"),
        },
    )
    def mark_won_detail(self, request, form, object_id):
        return self._close_from_page(
            request, object_id, services.deals_mark_won, _("The deal is marked as won.")
        )

    @action(
        description=_("Mark lost"),
        url_path="mark-lost",
        permissions=["change"],
        icon="block",
        dialog={
            "title": _("Mark this deal as lost?"),
            "description": _(
                "It moves to the first lost stage with probability 0% and closes today."
            ),
            "form_submit_text": _("Mark lost"),
        },
    )
    def mark_lost_detail(self, request, form, object_id):
        return self._close_from_page(
            request, object_id, services.deals_mark_lost, _("The deal is marked as lost.")
        )
