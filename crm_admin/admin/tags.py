from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import display

from crm_admin.admin.lists import StrictListMixin
from crm_admin.admin.saved_filters import saved_filters_using_tags
from crm_admin.models import SavedFilter, Tag


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
        # Both confirmation pages (one tag, and the "delete selected" action, which is itself
        # a POST) come through here: warn before the user confirms.
        result = super().get_deleted_objects(objs, request)
        if not request.POST.get("post"):
            self._warn_about_saved_filters(request, objs, done=False)
        return result

    def delete_model(self, request, obj):
        self._warn_about_saved_filters(request, [obj], done=True)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        self._warn_about_saved_filters(request, queryset, done=True)
        super().delete_queryset(request, queryset)

    def _warn_about_saved_filters(self, request, tags, *, done: bool) -> None:
        """Name the saved filters that use `tags` (other people's private ones are counted,
        not named); two queries."""
        using = saved_filters_using_tags({tag.pk for tag in tags})
        if not using:
            return
        visible = set(
            SavedFilter.objects.visible_to(request.user)
            .filter(pk__in=[s.pk for s in using])
            .values_list("pk", flat=True)
        )
        named = [s for s in using if s.pk in visible]
        hidden = len(using) - len(named)
        names = ", ".join(f"“{s.name}”" for s in named)
        if hidden:
            others = ngettext(
                "%(count)d private saved filter of another user",
                "%(count)d private saved filters of other users",
                hidden,
            ) % {"count": hidden}
            names = f"{names}, {others}" if names else others
        if done:
            message = _(
                "These saved filters used the deleted tag and now show nothing for it: "
                "%(names)s. Edit or delete them under Saved filters."
            )
        else:
            message = _(
                "These saved filters use this tag: %(names)s. Once it is deleted they show "
                "nothing for it (they say so when opened): edit them first if they should keep "
                "working."
            )
        messages.warning(request, message % {"names": names})
