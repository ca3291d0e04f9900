from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from crm_admin.admin.autocomplete import StorableKeysFormMixin
from crm_admin.admin.filters import BoundedDateFieldListFilter
from crm_admin.admin.lists import StrictListMixin
from crm_admin.models import ContactNote, Deal, DealNote, visible_deals_condition


class NoteInline(TabularInline):
    """Notes on a contact or deal page: a log, so existing notes are read-only and newest first.

    The author is the logged-in user (set in the parent admin's `save_formset`), never asked.
    """

    fields = ["text", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    extra = 1
    per_page = 10
    can_delete = False
    show_change_link = False
    verbose_name = _("note")
    verbose_name_plural = _("notes")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("created_by")
            .order_by("-created_at", "-id")
        )

    def has_change_permission(self, request, obj=None):
        # Saved notes are history; new ones are added through the empty form.
        return False


class ContactNoteInline(NoteInline):
    model = ContactNote


class DealNoteInline(NoteInline):
    model = DealNote


class NoteAuthorMixin:
    """Stamp new inline notes with the logged-in user."""

    def save_formset(self, request, form, formset, change):
        if formset.model in (ContactNote, DealNote):
            for note_form in formset.forms:
                note = note_form.instance
                if note._state.adding and note_form.has_changed():
                    note.created_by = request.user
        super().save_formset(request, form, formset, change)


class NoteAdmin(StrictListMixin, StorableKeysFormMixin, ModelAdmin):
    list_display = ["display_excerpt", "created_by", "created_at"]
    list_filter = [("created_at", BoundedDateFieldListFilter)]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # A saved note is history: it can be deleted (with permission) but not rewritten.
        if obj is not None:
            return [*self.fields]
        return self.readonly_fields

    @admin.display(description=_("note"))
    def display_excerpt(self, note):
        return str(note)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ContactNote)
class ContactNoteAdmin(NoteAdmin):
    list_display = ["display_excerpt", "contact", "created_by", "created_at"]
    list_select_related = ["contact", "created_by"]
    autocomplete_fields = ["contact"]
    search_fields = ["text", "contact__email", "contact__last_name"]
    fields = ["contact", "text", "created_by", "created_at"]


@admin.register(DealNote)
class DealNoteAdmin(NoteAdmin):
    list_display = ["display_excerpt", "deal", "created_by", "created_at"]
    list_select_related = ["deal", "created_by"]
    autocomplete_fields = ["deal"]
    search_fields = ["text", "deal__title"]
    fields = ["deal", "text", "created_by", "created_at"]

    def get_queryset(self, request):
        # The notes of the deals the user may see: the list, its search, and the change page
        # of a note on another rep's deal ("not found").
        queryset = super().get_queryset(request)
        return queryset.filter(visible_deals_condition(request.user, through="deal__"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # The autocomplete lists the deal admin's visible deals; the field refuses any other
        # posted id ("Select a valid choice"), so no note lands on an invisible deal.
        if db_field.name == "deal":
            kwargs["queryset"] = Deal.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
