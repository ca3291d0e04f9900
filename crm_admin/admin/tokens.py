from django.contrib import admin
from rest_framework.authtoken.admin import TokenAdmin as BaseTokenAdmin
from rest_framework.authtoken.models import TokenProxy
from unfold.admin import ModelAdmin

# Importing DRF's admin module registered its stock TokenAdmin; replace it with the Unfold one.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(BaseTokenAdmin, ModelAdmin):
    """API tokens, one per user: adding one for a user creates their key."""

    autocomplete_fields = ["user"]
    list_select_related = ["user"]
