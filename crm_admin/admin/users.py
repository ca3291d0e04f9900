from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.lists import StrictListMixin
from crm_admin.models import ContactNote, Deal, DealNote

admin.site.unregister(User)
admin.site.unregister(Group)


def crm_history_counts(users) -> dict[str, int]:
    """What the CRM keeps in the name of `users`: admin history entries (which Django deletes
    with the user), owned deals and authored notes. Four counting queries."""
    return {
        "history": LogEntry.objects.filter(user__in=users).count(),
        "deals": Deal.objects.filter(owner__in=users).count(),
        "notes": ContactNote.objects.filter(created_by__in=users).count()
        + DealNote.objects.filter(created_by__in=users).count(),
    }


@admin.register(User)
class UserAdmin(StrictListMixin, StorableKeysFormMixin, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm

    def get_deleted_objects(self, objs, request):
        # Deleting a user would delete their admin history (LogEntry cascades) and leave their
        # deals and notes anonymous: refuse, and point to deactivation, which keeps both.
        counts = crm_history_counts(objs)
        if any(counts.values()):
            nouns = {
                "history": ("%(count)d history entry", "%(count)d history entries"),
                "deals": ("%(count)d deal", "%(count)d deals"),
                "notes": ("%(count)d note", "%(count)d notes"),
            }
            parts = [
                ngettext(*nouns[kind], count) % {"count": count}
                for kind, count in counts.items()
                if count
            ]
            line = _(
                "The CRM keeps %(parts)s in the name of the selected users. Deactivate them "
                "instead (untick “Active” on the user's page): they can no longer log in, and "
                "the history keeps their name."
            ) % {"parts": ", ".join(parts)}
            return [], {}, set(), [line]
        return super().get_deleted_objects(objs, request)


@admin.register(Group)
class GroupAdmin(StrictListMixin, StorableKeysFormMixin, BaseGroupAdmin, ModelAdmin):
    pass
