from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from crm_admin.models import Tag


@admin.register(Tag)
class TagAdmin(ModelAdmin):
    list_display = ["name", "display_contact_count", "display_deal_count", "created_at"]
    search_fields = ["name"]
    fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_usage()

    @display(description=_("contacts"), ordering="contact_count")
    def display_contact_count(self, tag):
        return tag.contact_count

    @display(description=_("deals"), ordering="deal_count")
    def display_deal_count(self, tag):
        return tag.deal_count
