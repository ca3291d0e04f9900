from adminsortable2.admin import SortableAdminMixin
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from crm_admin.admin.deals import OUTCOME_COLOURS
from crm_admin.admin.mixins import ProtectedDeleteSummaryMixin
from crm_admin.models import Stage


@admin.register(Stage)
class StageAdmin(SortableAdminMixin, ProtectedDeleteSummaryMixin, ModelAdmin):
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
