from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.forms import ActionForm
from unfold.widgets import BASE_CLASSES

from crm_admin.admin.deals import OUTCOME_COLOURS
from crm_admin.admin.mixins import ProtectedDeleteSummaryMixin
from crm_admin.models import Stage


def move_page_input(*, shown_for):
    """A small number input styled like Unfold's action select, shown for the given actions."""
    return forms.NumberInput(
        attrs={
            "class": " ".join(
                [
                    *BASE_CLASSES,
                    "w-24",
                    "group-[.changelist-actions]:!bg-white/20",
                    "group-[.changelist-actions]:px-2",
                    "group-[.changelist-actions]:py-1",
                    "group-[.changelist-actions]:!text-current",
                    "group-[.changelist-actions]:!outline-primary-400",
                ]
            ),
            "x-show": f"{list(shown_for)!r}.includes(action)",
        }
    )


class SortableActionForm(ActionForm):
    """Unfold's action bar plus the inputs of adminsortable2's move-to-page actions.

    adminsortable2 would swap in a form built on Django's plain one, whose select does not
    drive Unfold's Run button. Each input shows only for the actions that read it, through
    the `action` Alpine state of Unfold's action bar.
    """

    step = forms.IntegerField(
        required=False,
        initial=1,
        label=False,
        widget=move_page_input(shown_for=["move_to_back_page", "move_to_forward_page"]),
    )
    page = forms.IntegerField(
        required=False, label=False, widget=move_page_input(shown_for=["move_to_exact_page"])
    )


@admin.register(Stage)
class StageAdmin(SortableAdminMixin, ProtectedDeleteSummaryMixin, ModelAdmin):
    action_form = SortableActionForm
    list_display = ["name", "display_outcome", "display_deal_count"]
    fields = ["name", "outcome"]
    protected_relations = {"deals": _("Move those deals to another stage first.")}

    def get_queryset(self, request):
        return super().get_queryset(request).with_deal_count()

    @display(description=_("outcome"), ordering="outcome", label=OUTCOME_COLOURS)
    def display_outcome(self, stage):
        return stage.outcome, stage.get_outcome_display()

    @display(description=_("deals"), ordering="deal_count")
    def display_deal_count(self, stage):
        return stage.deal_count
