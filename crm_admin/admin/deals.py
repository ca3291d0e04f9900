import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm

from crm_admin import cells, services
from crm_admin.admin import actions, next_steps
from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.board import PipelineBoardMixin
from crm_admin.admin.concurrency import OptimisticConcurrencyMixin
from crm_admin.admin.filters import (
    BoundedRangeFilter,
    ClosedFilter,
    DealStatusFilter,
    ExpectedCloseFilter,
    LostReasonFilter,
    OwnerFilter,
    StaleFilter,
    StorableAutocompleteSelectFilter,
    StorableAutocompleteSelectMultipleFilter,
)
from crm_admin.admin.history_figures import HistoryFiguresMixin
from crm_admin.admin.import_export import DealImportExportMixin
from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.lost_reasons import AsksLostReasonMixin, LostReasonField, field_errors
from crm_admin.admin.next_steps import NextStepAdminMixin, NextStepFilter
from crm_admin.admin.notes import DealNoteInline, NoteAuthorMixin
from crm_admin.admin.saved_filters import SavedFiltersListMixin
from crm_admin.admin.timeline import DealHistoryMixin
from crm_admin.deal_history import check_lost_reason
from crm_admin.formats import format_money
from crm_admin.models import Deal, Stage
from crm_admin.search import DEAL_SEARCH_FIELDS

OUTCOME_COLOURS = {
    Stage.Outcome.OPEN: "info",
    Stage.Outcome.WON: "success",
    Stage.Outcome.LOST: "danger",
}


class DealAdminForm(forms.ModelForm):
    """A won or lost deal has no next step (Deal.CLOSED_NEXT_STEP). Of the two ways a form can
    meet that rule, the friendlier each time: a step the deal already had is cleared when the
    form closes the deal, and the success message says so (closing needs no extra step); a
    step typed into a form that puts the deal in a closed stage is refused with a field error,
    so nothing the user just typed is thrown away unsaid.

    A form that puts the deal into a lost stage (a new deal, or its stage changed), or takes
    the reason of a lost deal away, needs a lost reason (check_lost_reason()); other edits of
    a lost deal do not. A reason chosen for a deal that is not lost is refused likewise: only
    a lost deal has one (leaving a lost stage clears it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "lost_reason" in self.fields:
            self.fields["lost_reason"].help_text = _(
                "Why the deal was lost: asked when it moves to a lost stage."
            )

    def clean(self):
        cleaned_data = super().clean()
        stage = cleaned_data.get("stage")
        if stage is not None and "lost_reason" in self.fields:
            self._clean_lost_reason(stage, cleaned_data.get("lost_reason"))
        typed = {"next_step", "next_step_due"} & set(self.changed_data)
        has_step = cleaned_data.get("next_step") or cleaned_data.get("next_step_due")
        if stage is not None and stage.is_closed and typed and has_step:
            self.add_error(
                "next_step",
                _(
                    "A won or lost deal has no next step: clear it, or keep the deal in an "
                    "open stage."
                ),
            )
        return cleaned_data

    def _clean_lost_reason(self, stage, reason) -> None:
        moving = self.instance._state.adding or "stage" in self.changed_data
        typed = "lost_reason" in self.changed_data
        if stage.outcome != Stage.Outcome.LOST:
            if typed and reason is not None:
                self.add_error(
                    "lost_reason",
                    _("Only a lost deal has a lost reason: choose a lost stage, or clear it."),
                )
        elif moving or typed:
            try:
                check_lost_reason(stage, reason)
            except ValidationError as error:
                self.add_error(None, error)


class MarkLostDialogForm(AsksLostReasonMixin, BaseDialogForm):
    """The deal page's "Mark lost" dialog: why it was lost."""

    lost_reason = LostReasonField()

    def __init__(self, *args, **kwargs):
        # Ids of its own: the deal form behind the dialog has a `lost_reason` field too.
        kwargs.setdefault("auto_id", "id_dialog_%s")
        super().__init__(*args, **kwargs)


MARK_LOST_DIALOG = {
    "title": _("Mark this deal as lost?"),
    "description": _(
        "It moves to the first lost stage with probability 0% and closes today. Why was it lost?"
    ),
    "form_class": MarkLostDialogForm,
    "form_submit_text": _("Mark lost"),
}


def render_dialog(request, form, dialog):
    """The action's dialog again, with `form`'s errors: what unfold.decorators.action (0.110)
    renders for a form that is not valid, for a refusal that comes from the service."""
    context = {"dialog": dialog, "form": form, "form_submit_text": dialog["form_submit_text"]}
    return render(request, "unfold/helpers/dialog.html", context)


@admin.register(Deal)
class DealAdmin(
    StrictListMixin,
    StorableKeysFormMixin,
    DealImportExportMixin,
    actions.ActionPermissionMixin,
    PipelineBoardMixin,
    HistoryFiguresMixin,
    SavedFiltersListMixin,
    NoteAuthorMixin,
    NextStepAdminMixin,
    DealHistoryMixin,
    OptimisticConcurrencyMixin,
    ModelAdmin,
):
    form = DealAdminForm
    list_display = [
        "title",
        "display_contact",
        "display_company",
        "display_stage",
        "display_amount",
        "display_probability",
        "owner",
        "expected_close_date",
        # Last: the dashboard's links sort the list by the columns before it (`o=8`).
        "display_next_step",
    ]
    list_filter = [
        DealStatusFilter,
        ("stage", RelatedDropdownFilter),
        StaleFilter,
        LostReasonFilter,
        OwnerFilter,
        NextStepFilter,
        ("tags", StorableAutocompleteSelectMultipleFilter),
        # A contact's and a company's deals (their pages link here for all of them).
        ("contact", StorableAutocompleteSelectFilter),
        ("contact__company", StorableAutocompleteSelectFilter),
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
    readonly_fields = [
        "display_company",
        "display_in_stage_since",
        "closed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["title", ("contact", "display_company"), "owner", "tags"]}),
        (
            _("Pipeline"),
            {
                "fields": [
                    ("stage", "probability"),
                    ("amount", "expected_close_date"),
                    "lost_reason",
                    ("display_in_stage_since", "closed_at"),
                ]
            },
        ),
        (_("Record"), {"fields": [("created_at", "updated_at")], "classes": ["collapse"]}),
        # Last, so it sits right above the notes inline: a note and what comes next, one save.
        next_steps.FIELDSET,
    ]
    actions = [
        actions.mark_won,
        actions.mark_lost,
        actions.move_to_stage,
        actions.assign_owner,
        actions.set_next_step,
        actions.add_tags,
        actions.remove_tags,
    ]
    actions_detail = ["mark_won_detail", "mark_lost_detail"]

    def get_queryset(self, request):
        # Every deal surface of this admin reads this queryset: the list, its counts, search,
        # filters and bulk actions, the board and its totals, the export, the autocomplete
        # widgets, and get_object() behind the change, history, move and won/lost pages (an
        # invisible deal is "not found", like one that does not exist).
        return super().get_queryset(request).for_admin_list().visible_to(request.user)

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
        label = cells.label(deal.stage.name, OUTCOME_COLOURS.get(deal.stage.outcome))
        # In memory, from the row and its stage (select_related): no query per row.
        if not deal.is_stale():
            return label
        days = deal.days_in_stage()
        return format_html(
            '{} <span class="text-orange-700 text-xs whitespace-nowrap dark:text-orange-400" '
            'title="{}">{}</span>',
            label,
            ngettext(
                "In this stage for %(days)d day; stale after %(limit)d.",
                "In this stage for %(days)d days; stale after %(limit)d.",
                days,
            )
            % {"days": days, "limit": deal.stage.stale_after_days},
            _("stale"),
        )

    @display(description=_("in stage since"))
    def display_in_stage_since(self, deal):
        if deal.pk is None:
            return None
        now = timezone.now()
        days = deal.days_in_stage(now=now)
        since = ngettext("%(date)s (%(days)d day)", "%(date)s (%(days)d days)", days) % {
            "date": date_format(timezone.localtime(deal.stage_entered_at), "DATE_FORMAT"),
            "days": days,
        }
        if not deal.is_stale(now=now):
            return since
        return format_html("{} {}", since, cells.label(_("Stale"), "warning"))

    @display(description=_("amount"), ordering="amount")
    def display_amount(self, deal):
        return format_money(deal.amount, currency=False)

    @display(description=_("probability"), ordering="probability")
    def display_probability(self, deal):
        return f"{deal.probability}%"

    @display(description=_("next step"), ordering=next_steps.ORDER)
    def display_next_step(self, deal):
        return next_steps.step_cell(deal, today=timezone.localdate())

    def takes_next_step(self, deal) -> bool:
        return not deal.stage.is_closed

    def save_model(self, request, obj, form, change):
        # Who moves the deal, for the stage history row its save() records.
        obj.actor = request.user
        step = form.initial.get("next_step") if change else ""
        super().save_model(request, obj, form, change)
        kept = "next_step" not in form.changed_data
        if step and kept and "stage" in form.changed_data and not obj.next_step:
            # A step the deal had (DealAdminForm lets it through), cleared by the closing rule.
            request.crm_cleared_next_step = step

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        # Django's "changed successfully" is the first success message after save_model().
        step = None
        if level == messages.SUCCESS:
            step = request.__dict__.pop("crm_cleared_next_step", None)
        if step:
            message = format_html(
                "{} {}",
                message,
                _("Its next step “%(step)s” was cleared: a won or lost deal has none.")
                % {"step": step},
            )
        super().message_user(request, message, level, *args, **kwargs)

    def _close_from_page(self, request, object_id, service, done, *, form=None, dialog=None):
        """Run `service` on the page's deal; a refusal about the dialog's `form` (no lost
        reason) shows in the dialog, any other as a message on the page."""
        deal = self.get_object(request, unquote(object_id))
        if deal is None:
            raise Http404(_("No deal with that id."))
        url = reverse("admin:crm_admin_deal_change", args=[deal.pk])
        try:
            count = service(deals=Deal.objects.filter(pk=deal.pk), actor=request.user)
        except ValidationError as error:
            if form is not None and field_errors(error, form):
                form.add_error(None, error)
                return render_dialog(request, form, dialog)
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
        dialog=MARK_LOST_DIALOG,
    )
    def mark_lost_detail(self, request, form, object_id):
        reason = form.cleaned_data["lost_reason"]
        return self._close_from_page(
            request,
            object_id,
            functools.partial(services.deals_mark_lost, lost_reason=reason),
            _("The deal is marked as lost: %(reason)s.") % {"reason": reason}
            if reason
            else _("The deal is marked as lost."),
            form=form,
            dialog=MARK_LOST_DIALOG,
        )
