"""Lost reasons: their list in the admin (ordered by drag and drop like the pipeline stages,
each with its number of deals), and the field every form marking deals lost asks with.

Whether a reason is needed is one rule, crm_admin.deal_history.check_lost_reason(): the
services run it for the bulk actions, the deal page's button and the board, the deal form for
itself. The forms here only ask and show the rule's refusal on their field.
"""

from adminsortable2.admin import SortableAdminMixin
from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.widgets import UnfoldAdminSelectWidget

from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.mixins import ProtectedDeleteSummaryMixin
from crm_admin.admin.sortable import SortableActionForm
from crm_admin.deal_history import LostReason, lost_reason_required


class LostReasonField(forms.ModelChoiceField):
    """A choice of lost reason. It never refuses an empty choice by itself: check_lost_reason()
    decides (it knows the stage the deals go to), and its refusal is shown on this field.
    `required` only marks the label, where the form knows the deals are being marked lost."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", LostReason.objects.all())
        kwargs.setdefault("label", _("Lost reason"))
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", UnfoldAdminSelectWidget)
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": _("That lost reason does not exist (any more): choose another.")},
        )
        super().__init__(**kwargs)

    def validate(self, value):
        # No "This field is required.": the rule's own message comes from check_lost_reason().
        pass


class AsksLostReasonMixin:
    """A form that marks deals lost: its `lost_reason` is marked required while reasons are
    (CRM_REQUIRE_LOST_REASON)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lost_reason"].required = lost_reason_required()


def field_errors(error, form) -> bool:
    """Whether the ValidationError `error` (a service's refusal) names only fields of `form`,
    so that the form can show it on them (form.add_error(None, error))."""
    return hasattr(error, "error_dict") and set(error.error_dict) <= set(form.fields)


@admin.register(LostReason)
class LostReasonAdmin(StrictListMixin, SortableAdminMixin, ProtectedDeleteSummaryMixin, ModelAdmin):
    action_form = SortableActionForm
    list_display = ["name", "display_deal_count"]
    fields = ["name"]
    protected_relations = {
        "deals": _("Give those deals another reason first (the deal list filters by reason)."),
        "stage_changes": _(
            "Deals' stage history keeps the reason they were lost for: rename the reason instead."
        ),
    }

    def get_queryset(self, request):
        return super().get_queryset(request).with_deal_count()

    @display(description=_("deals"), ordering="deal_count")
    def display_deal_count(self, reason):
        if not reason.deal_count:
            return 0
        url = reverse("admin:crm_admin_deal_changelist")
        # The deal list's lost reason filter (filters.LostReasonFilter).
        return format_html(
            '<a class="text-primary-600" href="{}?lost_reason={}">{}</a>',
            url,
            reason.pk,
            reason.deal_count,
        )
