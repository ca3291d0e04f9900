"""What an admin list accepts in its query string: its declared filters' parameters, search,
sort and paging (and the admin's own popup and error flags), nothing else.

Django's stock `lookup_allowed` lets a staff user run any lookup on a local field or on a
field named in `list_filter`: `?title__regex=^(a|a)*$` took seconds per row (exponential),
`?title__regex=[` and `?pk__in=9223372036854775808` were 500s. Here a list (and the board and
the export, which reuse its ChangeList) answers anything else with the admin's usual `?e=1`.
"""

from functools import cache, cached_property

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.filters import FieldListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.views import ChangeList

from crm_admin import cells
from crm_admin.counting import EstimatingPaginator
from crm_admin.formats import parse_id
from crm_admin.search import (
    MAX_SEARCH_WORDS,
    MIN_WORD_LENGTH,
    capped_search,
    search_queryset,
    short_words,
)


@cache
def _filter_parameters(model_admin, list_filter) -> frozenset[str]:
    # The names depend only on the declaration (field path, filter class), never on the data
    # or the user, so each filter spec is built once per process: building one can query
    # (an owner or stage dropdown reads its choices), and a list page must not pay for it.
    request = HttpRequest()
    request.user = AnonymousUser()
    model = model_admin.model
    if callable(list_filter):
        spec = list_filter(request, {}, model, model_admin)
    else:
        field_path, filter_class = (
            list_filter if isinstance(list_filter, tuple) else (list_filter, FieldListFilter.create)
        )
        field = get_fields_from_path(model, field_path)[-1]
        spec = filter_class(field, request, {}, model, model_admin, field_path=field_path)
    return frozenset(name for name in spec.expected_parameters() if name)


def list_filter_parameters(model_admin, request: HttpRequest | None = None) -> frozenset[str]:
    """Every query parameter the declared filters of `model_admin`'s list read: exactly what
    their specs' `expected_parameters()` name. No query once each filter was seen."""
    declared = (
        model_admin.get_list_filter(request) if request is not None else model_admin.list_filter
    )
    names = set()
    for list_filter in declared:
        names |= _filter_parameters(
            model_admin, tuple(list_filter) if isinstance(list_filter, list) else list_filter
        )
    return frozenset(names)


_UNSET = object()
# Stands for the row's key while a list's change URL is reversed once.
_KEY = "crm-row-key"


class StrictChangeList(ChangeList):
    """Unfold's ChangeList, answering a parameter no filter declares with `?e=1` (Django's
    IncorrectLookupParameters) instead of a 400, and searching at most MAX_SEARCH_WORDS."""

    def url_for_result(self, result):
        # Django reverses the change URL for every row, which costs more than the rest of
        # the row's link; here once per list. An integer key needs no quoting; others go
        # through Django's way.
        pk = getattr(result, self.pk_attname)
        if type(pk) is not int:
            return super().url_for_result(result)
        before, after = self._change_url_around_key
        return f"{before}{pk}{after}"

    @cached_property
    def _change_url_around_key(self) -> tuple[str, str]:
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=(_KEY,),
            current_app=self.model_admin.admin_site.name,
        )
        before, _key, after = url.rpartition(_KEY)
        return before, after

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except DisallowedModelAdminLookup as error:
            raise IncorrectLookupParameters(error) from error

    def get_queryset(self, request, exclude_parameters=None):
        # Facet counts would call this again with `exclude_parameters`: say it only once.
        if exclude_parameters is None:
            self.query, dropped = capped_search(self.query)
            if dropped:
                messages.warning(
                    request,
                    ngettext(
                        "A search uses at most %(max)d words: %(count)d word was left out.",
                        "A search uses at most %(max)d words: %(count)d words were left out.",
                        dropped,
                    )
                    % {"max": MAX_SEARCH_WORDS, "count": dropped},
                )
            short = short_words(self.query)
            if short:
                messages.warning(
                    request,
                    ngettext(
                        "Search words need at least %(min)d letters: %(words)s was left out.",
                        "Search words need at least %(min)d letters: %(words)s were left out.",
                        len(short),
                    )
                    % {"min": MIN_WORD_LENGTH, "words": ", ".join(f"“{w}”" for w in short)},
                )
        return super().get_queryset(request, exclude_parameters)


class StrictListMixin:
    """For every CRM ModelAdmin: its list takes only what its filters declare (see above),
    counts its rows with crm_admin.counting (exact while cheap, estimated past
    CRM_EXACT_COUNT_LIMIT on PostgreSQL), without Django's second full-table count, and
    draws its rows with compact classes and its checkboxes without a template render each
    (crm_admin/cells.py, admin/crm_admin/change_list_results.html)."""

    paginator = EstimatingPaginator
    show_full_result_count = False
    # Asks admin/crm_admin/change_list_results.html for its compact rows.
    compact_rows = True
    # Facet counts (?_facets=1) would count every matching row once per filter choice,
    # past any count limit.
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return StrictChangeList

    @display(description=ModelAdmin.action_checkbox.short_description)
    def action_checkbox(self, obj):
        return cells.action_checkbox(obj.pk)

    def get_empty_value_display(self):
        # Asked once per cell of a list; Django's raises and catches an AttributeError each
        # time no ModelAdmin sets empty_value_display. The same answer, without.
        value = getattr(self, "empty_value_display", _UNSET)
        if value is _UNSET:
            value = self.admin_site.empty_value_display
        return SafeString(value) if isinstance(value, str) else mark_safe(value)

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in list_filter_parameters(self, request) and super().lookup_allowed(
            lookup, value, request
        )

    def get_search_results(self, request, queryset, search_term):
        # Lists, the board and the autocomplete views all search through here: the words
        # capped and short ones left out, each word through the indexes (crm_admin/search.py).
        fields = self.get_search_fields(request)
        if not fields or not search_term:
            return queryset, False
        return search_queryset(queryset, fields, search_term), False

    def response_action(self, request, queryset):
        # Django filters the list by the checked ids as posted: one that is no id (a mangled
        # or forged form: "abc", or past a 64-bit key) was a 500. Select-all ignores them.
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        across = request.POST.get("select_across") == "1"
        if not across and not all(_is_key(self.model, value) for value in selected):
            self.message_user(
                request, _("Those rows are not valid: nothing was changed."), messages.ERROR
            )
            return None  # back to the list (Django's "action failed")
        return super().response_action(request, queryset)


def _is_key(model, value: str) -> bool:
    """Whether `value` can be the primary key of a `model` row (an id, for integer keys)."""
    if isinstance(model._meta.pk, models.IntegerField):
        return parse_id(value) is not None
    return True
