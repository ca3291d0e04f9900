"""Saved filters: named views of the contact, deal and company lists, offered as tabs above them."""

from urllib.parse import urlencode

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.filters import FieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from crm_admin.models import SavedFilter

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
    model_admin = _target_admin(target)
    if request is None:
        request = HttpRequest()
        request.user = AnonymousUser()
    model = model_admin.model
    known = {SEARCH_VAR, ORDER_VAR}
    for list_filter in model_admin.get_list_filter(request):
        if callable(list_filter):
            spec = list_filter(request, {}, model, model_admin)
        else:
            field_path, filter_class = (
                list_filter
                if isinstance(list_filter, tuple | list)
                else (list_filter, FieldListFilter.create)
            )
            field = get_fields_from_path(model, field_path)[-1]
            spec = filter_class(field, request, {}, model, model_admin, field_path=field_path)
        known.update(name for name in spec.expected_parameters() if name)
    return known


def unknown_parameters(*, target: str, query: str) -> list[str]:
    """The parameters in `query` that the `target` list does not know, in query order."""
    if target not in SavedFilter.Target.values:
        return []
    known = list_parameters(target=target)
    names = QueryDict(query).keys()
    return [name for name in dict.fromkeys(names) if name not in known]


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
        if request.user.has_perm("crm_admin.add_savedfilter"):
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
        if name and target:
            clash = SavedFilter.objects.filter(owner=owner, target=target, name__iexact=name)
            if clash.exclude(pk=self.instance.pk).exists():
                self.add_error("name", _("You already have a saved filter with this name."))
        return cleaned


@admin.register(SavedFilter)
class SavedFilterAdmin(ModelAdmin):
    form = SavedFilterForm
    list_display = ["name", "target", "display_query", "owner", "shared", "created_at"]
    list_filter = ["target", "shared"]
    list_select_related = ["owner"]
    search_fields = ["name"]
    fields = ["name", "target", "query", "shared"]

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
