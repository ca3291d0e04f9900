"""Follow-up filters for the contact and deal lists.

The date filters are relative ("more than 30 days ago", "this month") so that a saved filter
keeps meaning the same thing as time passes.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import DropdownFilter, RangeNumericFilter

from crm_admin.formats import parse_id
from crm_admin.models import Stage
from crm_admin.selectors import month_start


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
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "never":
            return queryset.filter(last_contacted_at__isnull=True)
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


class DealOwnerFilter(DropdownFilter):
    title = _("owner")
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        staff = (
            get_user_model()
            .objects.filter(is_active=True, is_staff=True)
            .order_by("username")
            .values_list("pk", "username")
        )
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
                messages.warning(
                    request,
                    _("%(filter)s: “%(value)s” was ignored. %(reason)s")
                    % {
                        "filter": self.title.capitalize(),
                        "value": value,
                        "reason": error.messages[0],
                    },
                )
        return super().queryset(request, queryset)
