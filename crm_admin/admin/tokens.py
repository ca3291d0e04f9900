from django.contrib import admin
from rest_framework.authtoken.admin import TokenAdmin as BaseTokenAdmin
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin

from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.lists import StrictListMixin

# Importing DRF's admin module registered its stock TokenAdmin; replace it with the Unfold one.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(StrictListMixin, StorableKeysFormMixin, BaseTokenAdmin, ModelAdmin):
    """API tokens, one per user: adding one for a user creates their key."""

    autocomplete_fields = ["user"]
    list_select_related = ["user"]

    # A key lets its holder read the API as that user, and the list shows keys in clear:
    # only superusers see or make them, whatever permissions a staff member was given.
    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
