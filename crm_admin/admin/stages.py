from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import display

from crm_admin import cells, services
from crm_admin.admin.deals import OUTCOME_COLOURS
from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.mixins import ProtectedDeleteSummaryMixin
from crm_admin.admin.sortable import SortableActionForm
from crm_admin.deal_history import DealStageChange
from crm_admin.models import Stage


class StageForm(forms.ModelForm):
    """The stage form; a change of outcome that moves deals waits for `confirm_outcome_change`.

    StageAdmin adds that checkbox only to a POST that changes the outcome of a stage with
    deals: the page comes back with it and a message naming how many deals change.
    """

    confirm_outcome_change = forms.BooleanField(
        required=False, label=_("Yes, change the outcome of these deals")
    )

    class Meta:
        model = Stage
        fields = ["name", "outcome", "stale_after_days"]

    def clean(self):
        cleaned = super().clean()
        outcome = cleaned.get("outcome")
        if cleaned.get("stale_after_days") and outcome and outcome != Stage.Outcome.OPEN:
            # The setting would do nothing (stale_condition() skips closed stages): say so
            # rather than keep a value that looks like it works.
            self.add_error(
                "stale_after_days",
                _("A won or lost deal is never stale: leave this empty for a won or lost stage."),
            )
        adding = self.instance.pk is None
        if (
            not adding
            and "confirm_outcome_change" in self.fields
            and not cleaned.get("confirm_outcome_change")
        ):
            was, outcome = self.instance.outcome, cleaned.get("outcome", self.instance.outcome)
            count = self.instance.deals.count()
            if outcome != was and count:
                self.add_error(
                    "confirm_outcome_change",
                    outcome_change_warning(stage=self.instance, outcome=outcome, count=count),
                )
        return cleaned


def outcome_change_warning(*, stage: Stage, outcome: str, count: int) -> str:
    """E.g. "Changing the outcome of Closed-Won from Won to Open reopens 1,234 deals." """
    if outcome == Stage.Outcome.OPEN:
        effect = ngettext("reopens %(count)s deal", "reopens %(count)s deals", count)
    else:
        effect = ngettext(
            "marks %(count)s deal as %(outcome)s", "marks %(count)s deals as %(outcome)s", count
        )
    effect %= {
        "count": number_format(count, force_grouping=True),
        "outcome": Stage.Outcome(outcome).label.lower(),
    }
    return _(
        "Changing the outcome of %(stage)s from %(was)s to %(outcome)s %(effect)s. "
        "Tick the box and save again to confirm."
    ) % {
        "stage": stage.name,
        "was": stage.get_outcome_display(),
        "outcome": Stage.Outcome(outcome).label,
        "effect": effect,
    }


@admin.register(Stage)
class StageAdmin(StrictListMixin, SortableAdminMixin, ProtectedDeleteSummaryMixin, ModelAdmin):
    action_form = SortableActionForm
    form = StageForm
    list_display = ["name", "display_outcome", "display_stale_after", "display_deal_count"]
    fields = ["name", "outcome", "stale_after_days"]
    protected_relations = {
        "deals": _("Move those deals to another stage first."),
        # Both ends of a move: a deal that left the stage, or entered it, keeps it in its
        # history (PROTECT), even once the deal itself is elsewhere.
        (DealStageChange, ("from_stage", "to_stage")): _(
            "Deals have been through this stage and their history keeps it: rename the stage "
            "instead, or keep it out of use."
        ),
    }

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        changing = obj is not None and request.method == "POST"
        if changing and request.POST.get("outcome", obj.outcome) != obj.outcome:
            return [*fields, "confirm_outcome_change"]
        return fields

    def save_model(self, request, obj, form, change):
        if not (change and "outcome" in form.changed_data):
            super().save_model(request, obj, form, change)
            return
        # Through the service: the deals' history is written and their close dates kept. It
        # saves the outcome; the other changed fields follow in one more UPDATE, if any.
        services.stage_change_outcome(stage=obj, outcome=obj.outcome, actor=request.user)
        columns = {field.name for field in Stage._meta.concrete_fields}
        others = [name for name in form.changed_data if name in columns and name != "outcome"]
        if others:
            obj.save(update_fields=others)

    def get_queryset(self, request):
        return super().get_queryset(request).with_deal_count()

    @display(description=_("outcome"), ordering="outcome")
    def display_outcome(self, stage):
        # Unfold's label, drawn by cells (no template render per cell).
        return cells.label(stage.get_outcome_display(), OUTCOME_COLOURS.get(stage.outcome))

    @display(description=_("stale after"), ordering="stale_after_days")
    def display_stale_after(self, stage):
        days = stage.stale_after_days
        if not days or stage.is_closed:
            return None
        return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}

    @display(description=_("deals"), ordering="deal_count")
    def display_deal_count(self, stage):
        return stage.deal_count
