from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import display

from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.saved_filters import saved_filters_using_tags
from crm_admin.models import Tag


@admin.register(Tag)
class TagAdmin(StrictListMixin, ModelAdmin):
    list_display = ["name", "display_contact_count", "display_deal_count", "created_at"]
    search_fields = ["name"]
    fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_usage()

    @display(description=gettext_lazy("contacts"), ordering="contact_count")
    def display_contact_count(self, tag):
        return tag.contact_count

    @display(description=gettext_lazy("deals"), ordering="deal_count")
    def display_deal_count(self, tag):
        return tag.deal_count

    def get_deleted_objects(self, objs, request):
        # Both delete pages (one tag, and the "delete selected" action) come through here:
        # name the saved filters that the deletion empties, before and after confirming.
        result = super().get_deleted_objects(objs, request)
        using = saved_filters_using_tags({tag.pk for tag in objs})
        if using:
            messages.warning(request, self._saved_filters_warning(request, using))
        return result

    def _saved_filters_warning(self, request, using) -> str:
        # Other people's private filters are counted, not named.
        named = [s for s in using if s.shared or s.owner_id == request.user.pk]
        hidden = len(using) - len(named)
        names = ", ".join(f"“{s.name}”" for s in named)
        if hidden:
            others = ngettext(
                "%(count)d private saved filter of another user",
                "%(count)d private saved filters of other users",
                hidden,
            ) % {"count": hidden}
            names = f"{names}, {others}" if names else others
        if request.method == "POST":
            return _(
                "These saved filters used the deleted tag and now show nothing for it: %(names)s. "
                "Edit or delete them under Saved filters."
            ) % {"names": names}
        return _(
            "These saved filters use this tag: %(names)s. Once it is deleted they show nothing "
            "for it (they say so when opened): edit them first if they should keep working."
        ) % {"names": names}
