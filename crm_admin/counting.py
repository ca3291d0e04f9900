"""Counting rows for lists without reading a million of them on every request.

An exact `COUNT(*)` reads every row the list matches: 80-120 ms for a million contacts on
PostgreSQL, on every page view, twice in the admin (the page's count and the "N total").
`EstimatingPaginator` counts exactly while that is cheap and estimates past it:

- every list counts exactly up to `settings.CRM_EXACT_COUNT_LIMIT` rows (a `COUNT(*)` over at
  most limit + 1 rows, which stops there);
- past it, an unfiltered list takes PostgreSQL's own row estimate for the table
  (`pg_class.reltuples`, kept by ANALYZE and autovacuum: "about 1,000,000"), and a filtered
  or searched list says "more than 10,000", paging by the planner's estimate for the query.

SQLite has no estimates: there every count stays exact (it is the one-machine database, and
a million-row COUNT there takes tens of milliseconds). Pages past an estimated end are still
served while rows remain, so every row can be reached.
"""

import json
import math

from django.core.paginator import EmptyPage, Paginator
from django.db import connections
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext as _

from crm_admin.conf import crm_settings


class ApproximateCount(int):
    """A row count that is a lower bound or an estimate: compares and pages as a number,
    shows as words ("more than 10,000", "about 1,000,000")."""

    def __new__(cls, value: int, *, more_than: int | None = None):
        count = super().__new__(cls, value)
        count.more_than = more_than
        return count

    def __str__(self) -> str:
        if self.more_than is not None:
            return _("more than %(count)s") % {"count": _grouped(self.more_than)}
        return _("about %(count)s") % {"count": _grouped(int(self))}

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _grouped(number: int) -> str:
    return number_format(number, force_grouping=True)


def exact_count_limit() -> int:
    return crm_settings.CRM_EXACT_COUNT_LIMIT


def query_estimate(queryset) -> int | None:
    """The planner's estimate of the rows `queryset` returns (EXPLAIN, nothing executed);
    None on other databases. One query."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def is_unfiltered(queryset) -> bool:
    return not queryset.query.where and not queryset.query.distinct


def _capped_count_and_table_estimate(queryset, limit: int) -> tuple[int, int | None]:
    """The rows of `queryset` counted up to `limit` + 1, and PostgreSQL's estimate of the rows
    in its table (None when the table was never analyzed), in one query."""
    sql, params = queryset.order_by().values("pk")[: limit + 1].query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM ({sql}) AS capped),"
            " (SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass)",
            [*params, queryset.model._meta.db_table],
        )
        capped, estimate = cursor.fetchone()
    return capped, (estimate if estimate is not None and estimate >= 0 else None)


def list_count(queryset) -> int:
    """The number of rows of `queryset` for a list: exact up to the limit, else an
    ApproximateCount (see the module docstring). One query for an unfiltered list (the capped
    count and the table's estimate together) and for a filtered one under the limit; two for
    a filtered one past it (the capped count, then the planner's estimate)."""
    if connections[queryset.db].vendor != "postgresql":
        return queryset.count()
    limit = exact_count_limit()
    if is_unfiltered(queryset):
        capped, estimate = _capped_count_and_table_estimate(queryset, limit)
        if capped <= limit:
            return capped
        if estimate is not None:
            return ApproximateCount(max(estimate, limit + 1))
    else:
        capped = queryset.order_by().values("pk")[: limit + 1].count()
        if capped <= limit:
            return capped
    estimate = query_estimate(queryset) or 0
    return ApproximateCount(max(estimate, limit + 1), more_than=limit)


class EstimatingPaginator(Paginator):
    """Django's Paginator counting with `list_count()`. With an approximate count, a page
    is never cut at the estimated end, and a page past it is served while it has rows."""

    @cached_property
    def count(self) -> int:
        return list_count(self.object_list)

    @property
    def is_estimated(self) -> bool:
        return isinstance(self.count, ApproximateCount)

    def validate_number(self, number):
        if not self.is_estimated:
            return super().validate_number(number)
        try:
            return super().validate_number(number)
        except EmptyPage:
            number = int(number)
            if number < 1:
                raise
            return number

    def page(self, number):
        if not self.is_estimated:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = self.object_list[bottom : bottom + self.per_page]
        if number > 1 and not rows:
            raise EmptyPage(_("That page contains no results"))
        return self._get_page(rows, number, self)

    @cached_property
    def num_pages(self) -> int:
        if not self.is_estimated:
            return super().num_pages
        return max(1, math.ceil(int(self.count) / self.per_page))
