"""Follow-up filters for the contact and deal lists.

The date filters are relative ("more than 30 days ago", "this month") so that a saved filter
keeps meaning the same thing as time passes.
"""

from datetime import datetime

from django.contrib import messages
from django.contrib.admin.filters import DateFieldListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.core.validators import EMPTY_VALUES
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import (
    AutocompleteSelectFilter,
    AutocompleteSelectMultipleFilter,
    DropdownFilter,
    RangeDateTimeFilter,
    RangeNumericFilter,
)
from unfold.utils import parse_datetime_str

from crm_admin.admin.autocomplete import is_storable_key, related_key_field
from crm_admin.conf import crm_settings
from crm_admin.deal_history import LostReason
from crm_admin.formats import UNSTORABLE_MOMENT, is_storable_moment, parse_id
from crm_admin.models import Stage
from crm_admin.selectors import (
    active_staff,
    contacts_due_follow_up,
    current_month_start,
    month_start,
)


class LastContactedFilter(DropdownFilter):
    title = _("last contacted")
    parameter_name = "last_contacted"
    DAYS = {"7d": 7, "30d": 30, "90d": 90}

    def lookups(self, request, model_admin):
        return [
            ("never", _("Never")),
            ("7d", _("More than 7 days ago, or never")),
            ("30d", _("More than 30 days ago, or never")),
            ("90d", _("More than 90 days ago, or never")),
            # The dashboard's follow-ups (selectors.contacts_due_follow_up), whose period is
            # settings.CRM_FOLLOW_UP_DAYS.
            (
                "due",
                _("Due a follow-up: next step due, or none and not contacted for %(days)d days")
                % {"days": crm_settings.CRM_FOLLOW_UP_DAYS},
            ),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "never":
            return queryset.filter(last_contacted_at__isnull=True)
        if value == "due":
            return contacts_due_follow_up(contacts=queryset)
        if value in self.DAYS:
            return queryset.not_contacted_for(days=self.DAYS[value])
        return queryset


class DealStatusFilter(DropdownFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return Stage.Outcome.choices

    def queryset(self, request, queryset):
        if self.value() in Stage.Outcome.values:
            return queryset.filter(stage__outcome=self.value())
        return queryset


class StaleFilter(DropdownFilter):
    """Open deals in their stage for longer than the stage's `stale_after_days` (elapsed time,
    the same in every time zone: DealQuerySet.stale()); one query for the stages."""

    title = _("stale")
    parameter_name = "stale"

    def lookups(self, request, model_admin):
        return [("yes", _("Stale: open, in its stage longer than the stage allows"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.stale(now=timezone.now())
        return queryset


class LostReasonFilter(DropdownFilter):
    """Deals by lost reason, or the lost deals given none (those lost before reasons were
    asked, or imported without one)."""

    title = _("lost reason")
    parameter_name = "lost_reason"

    def lookups(self, request, model_admin):
        reasons = LostReason.objects.values_list("pk", "name")
        return [("none", _("Lost without a reason"))] + [(str(pk), name) for pk, name in reasons]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(stage__outcome=Stage.Outcome.LOST, lost_reason__isnull=True)
        reason_id = parse_id(value)
        return queryset.filter(lost_reason_id=reason_id) if reason_id else queryset


class OwnerFilter(DropdownFilter):
    """Deals or contacts by owner: "mine" (the dashboard's links), unassigned, or a user."""

    title = _("owner")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        staff = active_staff().values_list("pk", "username")
        return [("mine", _("Mine")), ("none", _("Unassigned"))] + [
            (str(pk), username) for pk, username in staff
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "mine":
            return queryset.filter(owner=request.user)
        if value == "none":
            return queryset.filter(owner__isnull=True)
        owner_id = parse_id(value)
        return queryset.filter(owner_id=owner_id) if owner_id else queryset


class ExpectedCloseFilter(DropdownFilter):
    title = _("expected close")
    parameter_name = "expected_close"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("Overdue (open, date passed)")),
            ("this_month", _("This month")),
            ("next_month", _("Next month")),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        value = self.value()
        if value == "overdue":
            return queryset.filter(expected_close_date__lt=today, stage__outcome=Stage.Outcome.OPEN)
        if value in ("this_month", "next_month"):
            ahead = 0 if value == "this_month" else 1
            return queryset.filter(
                expected_close_date__gte=month_start(today, ahead),
                expected_close_date__lt=month_start(today, ahead + 1),
            )
        return queryset


class ClosedFilter(DropdownFilter):
    """When a deal was won or lost: the dashboard's "won this month" links here."""

    title = _("closed")
    parameter_name = "closed"

    def lookups(self, request, model_admin):
        return [("this_month", _("This month"))]

    def queryset(self, request, queryset):
        if self.value() == "this_month":
            # The dashboard figure's own bound, so the list shows exactly the deals it counts.
            return queryset.filter(closed_at__gte=current_month_start())
        return queryset


class BoundedRangeFilter(RangeNumericFilter):
    """Unfold's from/to filter, each bound first checked by the column's own form field.

    A value the column cannot hold (1e999999 for a 12-digit amount) would otherwise reach the
    database, and PostgreSQL answers it with an error; here it is dropped with a message.
    """

    def queryset(self, request, queryset):
        form_field = self.field.formfield()
        for name in self.expected_parameters():
            value = self.used_parameters.get(name)
            if value in (None, ""):
                continue
            try:
                form_field.clean(value)
            except ValidationError as error:
                del self.used_parameters[name]
                warn_ignored(request, self, value, error.messages[0])
        return super().queryset(request, queryset)


def warn_ignored(request, spec, value, reason) -> None:
    messages.warning(
        request,
        _("%(filter)s: “%(value)s” was ignored. %(reason)s")
        % {"filter": spec.title.capitalize(), "value": value, "reason": reason},
    )


class BoundedRangeDateTimeFilter(RangeDateTimeFilter):
    """Unfold's from/to date-and-time filter, in TIME_ZONE, each bound first checked.

    A moment past the year 9999 once in UTC (9999-12-31 23:59 in New York) overflows when the
    query is built; here that bound is dropped with a message. Unfold passes naive datetimes
    (a warning per query), so the bounds are made aware in TIME_ZONE here as well.
    """

    def queryset(self, request, queryset):
        bounds = {}
        for bound, lookup in (("from", "gte"), ("to", "lte")):
            names = (f"{self.parameter_name}_{bound}_0", f"{self.parameter_name}_{bound}_1")
            date_text, time_text = (self.used_parameters.get(name) for name in names)
            if date_text in EMPTY_VALUES or time_text in EMPTY_VALUES:
                continue
            moment = parse_datetime_str(f"{date_text} {time_text}")
            if moment is None:
                continue
            if not is_storable_moment(moment):
                for name in names:
                    del self.used_parameters[name]
                warn_ignored(request, self, f"{date_text} {time_text}", UNSTORABLE_MOMENT)
                continue
            bounds[f"{self.parameter_name}__{lookup}"] = timezone.make_aware(moment)
        return queryset.filter(**bounds)


class BoundedDateFieldListFilter(DateFieldListFilter):
    """Django's date filter (any date, today, past 7 days...), refusing a crafted bound that
    cannot be stored (`?created_at__gte=9999-12-31 23:59` in New York) with a message."""

    def queryset(self, request, queryset):
        for name in (self.lookup_kwarg_since, self.lookup_kwarg_until):
            values = self.used_parameters.get(name) or []
            for value in values if isinstance(values, list) else [values]:
                try:
                    moment = self.field.to_python(value)
                except ValidationError:
                    continue  # Django's own queryset() answers it with ?e=1
                if isinstance(moment, datetime) and not is_storable_moment(moment):
                    del self.used_parameters[name]
                    warn_ignored(request, self, value, UNSTORABLE_MOMENT)
                    break
        return super().queryset(request, queryset)


class StorableKeysFilterMixin:
    """An autocomplete filter refusing an id its column cannot hold with the list's `?e=1`.

    `?tags__id__exact=abc` already fails that way; an id past 2**63 used to raise
    OverflowError while the filter's widget looked it up.
    """

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        key_field = related_key_field(field)
        values = self.lookup_val or []
        for value in values if isinstance(values, list) else [values]:
            if not is_storable_key(key_field, value):
                raise IncorrectLookupParameters(f"{self.lookup_kwarg}={value!r} is no key.")


class StorableAutocompleteSelectFilter(StorableKeysFilterMixin, AutocompleteSelectFilter):
    pass


class StorableAutocompleteSelectMultipleFilter(
    StorableKeysFilterMixin, AutocompleteSelectMultipleFilter
):
    pass
