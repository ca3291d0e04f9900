from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse
from rest_framework.authtoken.admin import TokenAdmin as BaseTokenAdmin
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin

from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.lists import StrictChangeList, StrictListMixin

# Importing DRF's admin module registered its stock TokenAdmin; replace it with the Unfold one.
admin.site.unregister(TokenProxy)


class TokenChangeList(StrictChangeList):
    """DRF's token admin finds a token by its user's id (its get_object), so its rows link by
    that id, as DRF's own TokenChangeList does; the strict list's checks stay."""

    def url_for_result(self, result):
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(quote(result.user.pk),),
            current_app=self.model_admin.admin_site.name,
        )


@admin.register(TokenProxy)
class TokenAdmin(StrictListMixin, StorableKeysFormMixin, BaseTokenAdmin, ModelAdmin):
    """API tokens, one per user: adding one for a user creates their key."""

    autocomplete_fields = ["user"]
    list_select_related = ["user"]

    def get_changelist(self, request, **kwargs):
        return TokenChangeList

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
