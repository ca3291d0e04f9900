"""Saved filters: named views of the contact, deal and company lists, offered as tabs above them."""

from urllib.parse import urlencode

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.http import HttpRequest, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm_admin.admin.lists import StrictListMixin, list_filter_parameters
from crm_admin.formats import parse_id
from crm_admin.models import SavedFilter, Tag

# Parameters that belong to one visit of a list (paging, popups, error flags), never to a view.
TRANSIENT_PARAMETERS = {"p", "e", "_popup", "_to_field", "_changelist_filters", "all"}


def normalise_query(query: str) -> str:
    """`query` without a leading '?' and transient parameters, keys in a stable order."""
    params = QueryDict(query.strip().lstrip("?"), mutable=True)
    for name in TRANSIENT_PARAMETERS:
        params.pop(name, None)
    return urlencode(sorted((k, v) for k, values in params.lists() for v in values))


def _target_admin(target: str):
    return admin.site.get_model_admin(apps.get_model("crm_admin", target))


def list_parameters(*, target: str, request: HttpRequest | None = None) -> set[str]:
    """Every query parameter the `target` admin list understands: search, sort, its filters."""
    return {SEARCH_VAR, ORDER_VAR} | list_filter_parameters(_target_admin(target), request)


def unknown_parameters(*, target: str, query: str) -> list[str]:
    """The parameters in `query` that the `target` list does not know, in query order."""
    if target not in SavedFilter.Target.values:
        return []
    known = list_parameters(target=target)
    names = QueryDict(query).keys()
    return [name for name in dict.fromkeys(names) if name not in known]


# The query parameters through which a list filters by tag ids (the tags filter of the
# contact and deal lists; several values mean any of them).
TAG_PARAMETERS = ("tags__id__exact",)


def tag_ids_in(params: QueryDict) -> set[int]:
    """The tag ids a list query filters by (repeated or comma-separated values)."""
    return {
        pk
        for name in TAG_PARAMETERS
        for value in params.getlist(name)
        for part in value.split(",")
        if (pk := parse_id(part))
    }


def saved_filters_using_tags(tag_ids: set[int]) -> list[SavedFilter]:
    """The saved filters whose query filters by any of `tag_ids`; one query (only filters
    that mention a tag parameter are read)."""
    candidates = SavedFilter.objects.filter(query__contains="tags__id")
    return [saved for saved in candidates if tag_ids_in(QueryDict(saved.query)) & tag_ids]


def warn_about_missing_tags(request: HttpRequest, target: str) -> None:
    """Say so when the list is filtered by a tag that no longer exists: such a view shows
    nothing, and a saved filter built on a deleted tag would otherwise just look empty.
    No query unless the request filters by tag."""
    wanted = tag_ids_in(request.GET)
    if not wanted:
        return
    missing = wanted - set(Tag.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if not missing:
        return
    query = normalise_query(request.GET.urlencode())
    saved = SavedFilter.objects.visible_to(request.user).filter(target=target, query=query).first()
    ids = ", ".join(f"#{pk}" for pk in sorted(missing))
    if saved is None:
        message = _(
            "This view filters by a tag that no longer exists (%(ids)s), so it shows nothing "
            "for that tag."
        ) % {"ids": ids}
    else:
        message = _(
            "The saved filter “%(name)s” uses a tag that no longer exists (%(ids)s), so it "
            "shows nothing for that tag. Edit or delete the saved filter under Saved filters."
        ) % {"name": saved.name, "ids": ids}
    messages.warning(request, message)


def _same_view(request: HttpRequest, query: str) -> bool:
    return normalise_query(request.GET.urlencode()) == query


def saved_filter_tabs(request: HttpRequest) -> list[dict]:
    """Unfold TABS callback: "All" plus the user's own and shared saved filters above each list.

    Runs one query, and only on the lists that have tabs; each tab has an explicit active
    test (the page's query equals the saved one), since Unfold's own test would mark a tab
    without a query string active on every filtered view.
    """
    match = getattr(request, "resolver_match", None)
    targets = {f"crm_admin_{target}_changelist": target for target in SavedFilter.Target.values}
    target = targets.get(match.url_name) if match else None
    if target is None or not request.user.is_staff:
        return []
    saved = SavedFilter.objects.visible_to(request.user).filter(target=target)
    list_url = reverse(f"admin:crm_admin_{target}_changelist")
    items = [
        {
            "title": _("All"),
            "link": list_url,
            "active": lambda request: _same_view(request, ""),
        }
    ]
    for saved_filter in saved:
        items.append(
            {
                "title": saved_filter.name,
                "link": saved_filter.get_absolute_url(),
                "active": lambda request, query=saved_filter.query: _same_view(request, query),
            }
        )
    return [{"models": [f"crm_admin.{target}"], "items": items}]


class SavedFiltersListMixin:
    """Adds the "Save current filters" button to a list (see the change_list template)."""

    change_list_template = "admin/crm_admin/change_list_saved_filters.html"

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if request.method == "GET":
            warn_about_missing_tags(request, self.model._meta.model_name)
        if self.admin_site.get_model_admin(SavedFilter).has_add_permission(request):
            query = normalise_query(request.GET.urlencode())
            extra_context["save_filters_url"] = (
                reverse("admin:crm_admin_savedfilter_add")
                + "?"
                + urlencode({"target": self.model._meta.model_name, "query": query})
            )
        return super().changelist_view(request, extra_context)


class SavedFilterForm(forms.ModelForm):
    owner = None  # the user saving a new filter; set by SavedFilterAdmin.get_form()

    class Meta:
        model = SavedFilter
        fields = ["name", "target", "query", "shared"]

    def clean(self):
        # The unique (owner, target, name) constraint involves `owner`, which is not a form
        # field, so Django's form validation would skip it; check it here instead of a 500.
        cleaned = super().clean()
        owner = self.instance.owner if self.instance.pk else self.owner
        name, target = cleaned.get("name"), cleaned.get("target")
        if "query" in cleaned and target:
            self._clean_query(cleaned, target)
        if name and target:
            clash = SavedFilter.objects.filter(owner=owner, target=target, name__iexact=name)
            if clash.exclude(pk=self.instance.pk).exists():
                self.add_error("name", _("You already have a saved filter with this name."))
        return cleaned

    def _clean_query(self, cleaned: dict, target: str) -> None:
        """Store the query as the list will see it: normalised, then checked, so that what
        is validated is what is saved (percent-encoding can make it several times longer)."""
        query = normalise_query(cleaned["query"])
        cleaned["query"] = query
        self.instance.query = query
        limit = SavedFilter._meta.get_field("query").max_length
        if len(query) > limit:
            self.add_error(
                "query",
                _(
                    "This query is %(length)s characters long once encoded for the address; "
                    "the most a saved filter holds is %(limit)s."
                )
                % {"length": f"{len(query):,}", "limit": f"{limit:,}"},
            )
            return
        unknown = unknown_parameters(target=target, query=query)
        if unknown:
            target_label = SavedFilter.Target(target).label.lower()
            self.add_error(
                "query",
                _("The %(list)s list has no parameter %(names)s.")
                % {"list": target_label, "names": ", ".join(f"“{name}”" for name in unknown)},
            )


@admin.register(SavedFilter)
class SavedFilterAdmin(StrictListMixin, ModelAdmin):
    form = SavedFilterForm
    list_display = ["name", "target", "display_query", "owner", "shared", "created_at"]
    list_filter = ["target", "shared"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    fields = ["name", "target", "query", "shared"]

    def _may_share(self, request) -> bool:
        return request.user.has_perm("crm_admin.share_savedfilter")

    def get_fields(self, request, obj=None):
        # Without the right to share, a new filter is the user's own: no "shared" box to tick.
        fields = super().get_fields(request, obj)
        if obj is None and not self._may_share(request):
            return [field for field in fields if field != "shared"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        # On an existing filter the box shows, but only someone who may share changes it: a
        # read-only field is left out of the form, so a posted "shared" is ignored.
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and not self._may_share(request):
            readonly.append("shared")
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"owner": request.user})

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.visible_to(request.user)

    def _is_owner(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or obj.owner_id == request.user.pk

    def has_change_permission(self, request, obj=None):
        # Shared filters are read-only to everyone but their owner.
        return super().has_change_permission(request, obj) and self._is_owner(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._is_owner(request, obj)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or (
            request.user.is_staff and obj is not None and obj.shared
        )

    @admin.display(description=_("query"))
    def display_query(self, saved_filter):
        return saved_filter.query or "-"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # Back to the list the filter came from, now showing it as a tab.
        if "_addanother" in request.POST or "_continue" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        return redirect(obj.get_absolute_url())
