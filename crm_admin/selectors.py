"""Reads shared by the dashboard and the pipeline board: aggregates computed by the database.

No function here loops over deals in Python; each docstring says how many queries it runs.
Money sums are exact Decimals on both databases (ExactSum).

On PostgreSQL the figures over every deal or contact (the board's columns, the open pipeline,
the forecast, the follow-ups due) read running totals that triggers keep on each write
(migration 0009: crm_deal_totals per stage and expected close date, crm_contact_contacted_days
per day of last contact; migration 0010: crm_deal_closed_days, closed deals per stage and day),
a few thousand rows instead of a million; SQLite sums the rows.

The dashboard's figures take the `user` whose screen they are for: with deal visibility
"own" (models.visible_deals_condition) a user who does not see every deal gets figures over
the deals they see alone, summed from their rows (the owner indexes), since the running
totals count every deal. `user=None` means every deal.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from crm_admin.conf import crm_settings
from crm_admin.counting import ApproximateCount, exact_count_limit
from crm_admin.models import (
    NEXT_STEP_WEEK_DAYS,
    Contact,
    Deal,
    NextStepDue,
    Stage,
    next_step_due_condition,
)

CENTS = Decimal("0.01")
WIN_RATE_DAYS = 90


class ExactSum(Sum):
    """SUM of a non-negative amount with two decimal places, exact to the cent on every database.

    PostgreSQL sums numeric exactly. SQLite stores and sums decimals as doubles, which drop cents
    once a total passes 15 significant digits (999 x 9,999,999,999.99 + 0.02 comes out .21, not
    .03). There each row becomes integer cents (exact: a row has at most 14 significant digits)
    and the cents are summed in two integer parts joined as text, so that no total overflows
    SQLite's 64-bit integers. The value reads back as a Decimal (None when no row is summed).
    """

    # Not a DecimalField: Django's SQLite converter would turn the digits back into a float.
    output_field = CharField()
    _PART = 10**9

    def as_sqlite(self, compiler, connection, **extra_context):
        value = self.get_source_expressions()[0]
        if self.filter is not None:
            value = Case(When(self.filter, then=value))
        sql, params = compiler.compile(value)
        cents = f"CAST(ROUND(({sql}) * 100) AS INTEGER)"
        high, low = f"SUM({cents} / {self._PART})", f"SUM({cents} %% {self._PART})"
        # high + carry, then the low part's last nine digits, zero-padded: the sum in cents.
        joined = (
            f"CAST({high} + {low} / {self._PART} AS TEXT)"
            f" || SUBSTR('000000000' || ({low} %% {self._PART}), -9)"
        )
        return joined, (*params, *params, *params)

    def convert_value(self, value, expression, connection):
        if value is None:
            return None
        if connection.vendor == "sqlite":
            return Decimal(value).scaleb(-2)
        return Decimal(value)


# amount x probability keeps two decimal places; dividing by 100 happens in Python.
_AMOUNT_TIMES_PROBABILITY = ExpressionWrapper(
    F("amount") * F("probability"), output_field=DecimalField(max_digits=20, decimal_places=2)
)
_OPEN = Q(stage__outcome=Stage.Outcome.OPEN)


def _keeps_running_totals() -> bool:
    """Whether the database keeps the running totals of migrations 0009 and 0010 (PostgreSQL's
    triggers)."""
    return connection.vendor == "postgresql"


def _is_every_deal(deals: QuerySet[Deal]) -> bool:
    """Whether `deals` is every deal (no filter, slice or set operation): what the running
    totals sum. The unfiltered board is; a filtered or searched one is not."""
    query = deals.query
    return deals.model is Deal and not query.where and not query.is_sliced and not query.combinator


def _deals_for(user) -> QuerySet[Deal]:
    """The deals `user` sees (Deal.objects.visible_to); every deal for `user=None`."""
    return Deal.objects.all() if user is None else Deal.objects.visible_to(user)


def _reads_running_totals(deals: QuerySet[Deal]) -> bool:
    """Whether a figure over `deals` may read the running totals: on PostgreSQL, when
    `deals` is every deal (a user who sees all of them, or the unfiltered board)."""
    return _keeps_running_totals() and _is_every_deal(deals)


def money(value: Decimal | int | None) -> Decimal:
    """An exact amount (an ExactSum's value, or 0) with two decimal places; None counts as zero."""
    return Decimal(value or 0).quantize(CENTS)


def weighted(amount_times_probability) -> Decimal:
    """Turn a sum of amount x probability into money: divide by 100, round half up to cents."""
    return (money(amount_times_probability) / 100).quantize(CENTS, rounding=ROUND_HALF_UP)


def month_start(day: date, months: int = 0) -> date:
    """The first day of the month `months` after (or before, if negative) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _aware_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def current_month_start(*, now: datetime | None = None) -> datetime:
    """Midnight of the first day of `now`'s month in the current time zone: where "this month"
    begins for "won this month" and the dashboard's link to those deals. No query."""
    return _aware_midnight(month_start(timezone.localdate(now or timezone.now())))


@dataclass(frozen=True)
class PipelineFigures:
    open_value: Decimal
    weighted_forecast: Decimal
    won_this_month_count: int
    won_this_month_value: Decimal
    win_rate: float | None  # None when nothing closed in the window
    closed_in_window: int


def contacts_due_follow_up(
    *, contacts: QuerySet[Contact] | None = None, now: datetime | None = None
) -> QuerySet[Contact]:
    """`contacts` (all by default) due a follow-up: their next step is due (today or before,
    in the current time zone), or they have none and were not contacted for
    settings.CRM_FOLLOW_UP_DAYS days, or never. The one definition behind the dashboard's
    figure and list and the contact list's "due" filter (and so the saved filters using it).
    Lazy: one query when read."""
    now = now or timezone.now()
    contacts = Contact.objects.all() if contacts is None else contacts
    cutoff = now - timedelta(days=crm_settings.CRM_FOLLOW_UP_DAYS)
    # A next step's date needs its text (a constraint): a due date alone means a step.
    return contacts.filter(
        Q(next_step_due__lte=timezone.localdate(now))
        | Q(next_step="") & (Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=cutoff))
    )


def contacts_due_follow_up_count(*, now: datetime | None = None) -> int:
    """How many contacts contacts_due_follow_up() holds, exactly; one query.

    On PostgreSQL: the running count of contacts (migration 0011) with a next step due by
    today, plus those without one by UTC day of their last contact (and never) before the
    cutoff's day, plus the contacts without one contacted on that day before the cutoff
    itself (a range of the `last_contacted_at` index). Elsewhere it counts the rows.
    """
    now = now or timezone.now()
    if not _keeps_running_totals():
        return contacts_due_follow_up(now=now).count()
    cutoff = now - timedelta(days=crm_settings.CRM_FOLLOW_UP_DAYS)
    cutoff_day = cutoff.astimezone(UTC).date()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT coalesce(sum(contacts), 0) FROM crm_contact_follow_up_days"
            "        WHERE (has_step AND due <= %s)"
            "           OR (NOT has_step AND (day IS NULL OR day < %s)))"
            " + (SELECT count(*) FROM crm_admin_contact WHERE next_step = ''"
            "    AND last_contacted_at >= %s AND last_contacted_at < %s)",
            [timezone.localdate(now), cutoff_day, _utc_midnight(cutoff_day), cutoff],
        )
        return int(cursor.fetchone()[0])


@dataclass(frozen=True)
class StagePipeline:
    stage: Stage
    value: Decimal
    amount_x_probability: Decimal  # kept unrounded, so that totals round once

    @property
    def weighted(self) -> Decimal:
        return weighted(self.amount_x_probability)


def _running_total(measure: str) -> RawSQL:
    """A stage's sum of one crm_deal_totals measure, as an annotation on stages."""
    return RawSQL(
        f"SELECT sum({measure}) FROM crm_deal_totals WHERE stage_id = crm_admin_stage.id",
        (),
        output_field=DecimalField(),
    )


class _StageSum(Subquery):
    """A stage's ExactSum of `expression` over `deals`, as an annotation on stages: a
    correlated subquery, read back as ExactSum reads its value."""

    def __init__(self, deals: QuerySet[Deal], expression):
        total = (
            deals.filter(stage=OuterRef("pk"))
            .order_by()
            .values("stage")
            .annotate(total=ExactSum(expression))
            .values("total")
        )
        super().__init__(total, output_field=CharField())

    def convert_value(self, value, expression, connection):
        return ExactSum.convert_value(self, value, expression, connection)


def pipeline_value_by_stage(*, user=None) -> list[StagePipeline]:
    """Open stages in pipeline order with the value and weighted value of the deals `user`
    sees (every deal for None); one query: on PostgreSQL over the running totals when that
    is every deal, otherwise a sum per stage over those deals (the (stage, amount) index, or
    the owner's for a user who sees their own)."""
    deals = _deals_for(user)
    stages = Stage.objects.filter(outcome=Stage.Outcome.OPEN).order_by("order", "id")
    if _reads_running_totals(deals):
        stages = stages.annotate(
            value=_running_total("amount"),
            amount_x_probability=_running_total("amount_x_probability"),
        )
    else:
        stages = stages.annotate(
            value=_StageSum(deals, "amount"),
            amount_x_probability=_StageSum(deals, _AMOUNT_TIMES_PROBABILITY),
        )
    return [
        StagePipeline(stage, money(stage.value), money(stage.amount_x_probability))
        for stage in stages
    ]


def pipeline_figures(
    *, user=None, now: datetime | None = None, by_stage: list[StagePipeline] | None = None
) -> PipelineFigures:
    """The dashboard's deal figures over the deals `user` sees (every deal for None). Two
    queries at most, none reading every deal: the open pipeline comes from `by_stage`
    (pipeline_value_by_stage() for the same user, run here if not given); won and lost deals
    from closed_deals_by_span().

    "Won this month" and the win rate go by `closed_at` (from current_month_start(); the last
    90 days). Follow-ups are contacts, not deals: contacts_due_follow_up().
    """
    now = now or timezone.now()
    by_stage = pipeline_value_by_stage(user=user) if by_stage is None else by_stage
    this_month, window = closed_deals_by_span(
        [(current_month_start(now=now), None), (now - timedelta(days=WIN_RATE_DAYS), None)],
        user=user,
    )
    won_month_count, won_month_value = this_month[Stage.Outcome.WON]
    won_window, lost_window = window[Stage.Outcome.WON][0], window[Stage.Outcome.LOST][0]
    closed_count = won_window + lost_window
    return PipelineFigures(
        open_value=sum((row.value for row in by_stage), Decimal("0.00")),
        weighted_forecast=weighted(sum(row.amount_x_probability for row in by_stage)),
        won_this_month_count=won_month_count,
        won_this_month_value=won_month_value,
        win_rate=won_window / closed_count if closed_count else None,
        closed_in_window=closed_count,
    )


Span = tuple[datetime, datetime | None]  # [start, end); no end: up to any time
ClosedFigures = dict[str, tuple[int, Decimal]]  # outcome: (deals, value)


def closed_deals_by_span(spans: list[Span], *, user=None) -> list[ClosedFigures]:
    """For each span of `closed_at`, the won and the lost deals' count and value (exact),
    as {Stage.Outcome.WON: (count, value), Stage.Outcome.LOST: (count, value)}, of the deals
    `user` sees (every deal for None). One query.

    On PostgreSQL, over every deal, the whole UTC days inside a span come from the running
    totals of closed deals per stage and day (migration 0010) and only the partial days at
    its ends from the `closed_at` index; otherwise the deals of each span are counted.
    """
    deals = _deals_for(user)
    if _reads_running_totals(deals):
        rows = _closed_from_running_totals(spans)
    else:
        rows = _closed_from_deals(spans, deals)
    figures = [
        {outcome: (0, money(0)) for outcome in (Stage.Outcome.WON, Stage.Outcome.LOST)}
        for _ in spans
    ]
    for span, outcome, count, value in rows:
        figures[span][outcome] = (int(count), money(value))
    return figures


def _in_span(span: Span) -> Q:
    start, end = span
    return Q(closed_at__gte=start) & (Q(closed_at__lt=end) if end is not None else Q())


def _closed_from_deals(
    spans: list[Span], deals: QuerySet[Deal]
) -> list[tuple[int, str, int, Decimal]]:
    outcomes = (Stage.Outcome.WON, Stage.Outcome.LOST)
    measures = {}
    for i, span in enumerate(spans):
        for outcome in outcomes:
            matches = _in_span(span) & Q(stage__outcome=outcome)
            measures[f"n_{i}_{outcome}"] = Count("pk", filter=matches)
            measures[f"v_{i}_{outcome}"] = ExactSum("amount", filter=matches)
    earliest = min(start for start, _end in spans)
    row = deals.filter(closed_at__gte=earliest).aggregate(**measures)
    return [
        (i, outcome, row[f"n_{i}_{outcome}"], row[f"v_{i}_{outcome}"])
        for i in range(len(spans))
        for outcome in outcomes
    ]


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _split_at_utc_days(span: Span) -> tuple[tuple[date, date] | None, list[Span]]:
    """`span` as its whole UTC days [first, end) (None if it holds none) and the partial
    days left at its ends, as time ranges."""
    start, end = span
    first = start.astimezone(UTC).date()
    if _utc_midnight(first) < start:
        first += timedelta(days=1)
    if end is None:
        return (first, date.max), [(start, _utc_midnight(first))]
    last = end.astimezone(UTC).date()  # the whole days end where `end`'s UTC day begins
    if last <= first:
        return None, [span]
    return (first, last), [(start, _utc_midnight(first)), (_utc_midnight(last), end)]


def _closed_from_running_totals(spans: list[Span]) -> list[tuple[int, str, int, Decimal]]:
    day_ranges, time_ranges = [], []
    for i, span in enumerate(spans):
        days, parts = _split_at_utc_days(span)
        if days is not None:
            day_ranges.append((i, *days))
        time_ranges += [(i, start, end) for start, end in parts if start < end]
    selects, params = [], []
    if day_ranges:
        selects.append(
            "SELECT p.span, t.stage_id, t.deals, t.amount FROM crm_deal_closed_days t"
            " JOIN (VALUES "
            + ", ".join("(%s, %s::date, %s::date)" for _ in day_ranges)
            + ") AS p (span, first, last) ON t.day >= p.first AND t.day < p.last"
        )
        params += [value for row in day_ranges for value in row]
    if time_ranges:
        selects.append(
            "SELECT p.span, d.stage_id, 1, coalesce(d.amount, 0) FROM crm_admin_deal d"
            " JOIN (VALUES "
            + ", ".join("(%s, %s::timestamptz, %s::timestamptz)" for _ in time_ranges)
            + ") AS p (span, first, last)"
            " ON d.closed_at >= p.first AND d.closed_at < p.last"
        )
        params += [value for row in time_ranges for value in row]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x.span, s.outcome, sum(x.deals), sum(x.amount)"
            f" FROM ({' UNION ALL '.join(selects)}) AS x (span, stage_id, deals, amount)"
            " JOIN crm_admin_stage s ON s.id = x.stage_id"
            " WHERE s.outcome IN (%s, %s) GROUP BY x.span, s.outcome",
            [*params, Stage.Outcome.WON.value, Stage.Outcome.LOST.value],
        )
        return cursor.fetchall()


def forecast_by_month(
    *, user=None, months: int = 6, today: date | None = None
) -> list[tuple[date, Decimal]]:
    """Weighted value of the open deals `user` sees (every deal for None) by expected close
    month, this month and the next `months - 1`; months without deals count zero.

    One query: a conditional sum per month over a range of expected close dates (no month
    truncation, which SQLite would run as a Python function on every row): of the running
    totals' open stages on PostgreSQL over every deal, of the open deals otherwise.
    """
    today = today or timezone.localdate()
    starts = [month_start(today, i) for i in range(months + 1)]
    deals = _deals_for(user)
    if _reads_running_totals(deals):
        return _forecast_from_running_totals(starts)
    sums = {
        f"m{i}": ExactSum(
            _AMOUNT_TIMES_PROBABILITY,
            filter=Q(expected_close_date__gte=starts[i], expected_close_date__lt=starts[i + 1]),
        )
        for i in range(months)
    }
    row = deals.filter(
        _OPEN, expected_close_date__gte=starts[0], expected_close_date__lt=starts[-1]
    ).aggregate(**sums)
    return [(starts[i], weighted(row[f"m{i}"])) for i in range(months)]


def _forecast_from_running_totals(starts: list[date]) -> list[tuple[date, Decimal]]:
    months = len(starts) - 1
    sums = ", ".join(
        "sum(amount_x_probability) FILTER"
        " (WHERE expected_close_date >= %s AND expected_close_date < %s)"
        for _ in range(months)
    )
    params = [bound for i in range(months) for bound in (starts[i], starts[i + 1])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sums} FROM crm_deal_totals"
            " WHERE stage_id IN (SELECT id FROM crm_admin_stage WHERE outcome = %s)"
            " AND expected_close_date >= %s AND expected_close_date < %s",
            [*params, Stage.Outcome.OPEN.value, starts[0], starts[-1]],
        )
        row = cursor.fetchone()
    return [(starts[i], weighted(row[i])) for i in range(months)]


def won_lost_by_month(
    *, user=None, months: int = 6, today: date | None = None
) -> list[tuple[date, int, int]]:
    """(month, deals won, deals lost) by `closed_at` for this month and the `months - 1`
    before it, oldest first, of the deals `user` sees (every deal for None); months are
    those of the current time zone.

    One query: closed_deals_by_span() over the months.
    """
    today = today or timezone.localdate()
    starts = [month_start(today, i - (months - 1)) for i in range(months + 1)]
    bounds = [_aware_midnight(start) for start in starts]
    figures = closed_deals_by_span([(bounds[i], bounds[i + 1]) for i in range(months)], user=user)
    return [
        (starts[i], figures[i][Stage.Outcome.WON][0], figures[i][Stage.Outcome.LOST][0])
        for i in range(months)
    ]


def deals_closing_soon(*, user, limit: int = 10) -> QuerySet[Deal]:
    """The user's open deals by expected close date, soonest first (undated last); one query.
    A user's own deals are among those they see whatever the deal visibility."""
    return (
        Deal.objects.filter(_OPEN, owner=user)
        .select_related("contact__company", "stage")
        .order_by(F("expected_close_date").asc(nulls_last=True), "-amount", "pk")[:limit]
    )


def follow_ups_due(*, limit: int = 10, now: datetime | None = None) -> list[Contact]:
    """The contacts most overdue for a follow-up (contacts_due_follow_up()): those whose next
    step is due, soonest due first, then those without one, never contacted first, then the
    longest not contacted. Two queries, each reading at most `limit` rows through an index."""
    now = now or timezone.now()
    due = contacts_due_follow_up(now=now).select_related("company")
    with_step = list(due.exclude(next_step="").order_by("next_step_due", "pk")[:limit])
    without = due.filter(next_step="").order_by(F("last_contacted_at").asc(nulls_first=True), "pk")
    return with_step + list(without[:limit])[: limit - len(with_step)]


@dataclass(frozen=True)
class NextStepItem:
    record: Deal | Contact
    due: date | None

    @property
    def kind(self) -> str:
        return self.record._meta.model_name


@dataclass(frozen=True)
class MyDay:
    """A user's next steps: `now` (overdue and due today) and `week` (the next 7 days), each
    soonest first, deals and contacts together; `counts` per (model name, NextStepDue) with
    the user's open deals without a next step under ("deal", NextStepDue.NONE), which may be
    an ApproximateCount ("more than 10,000")."""

    now: list[NextStepItem]
    week: list[NextStepItem]
    counts: dict[tuple[str, str], int]


def _dated_step_counts(records: QuerySet, today: date, last: date) -> dict[str, int]:
    """`records`' next steps overdue, due today and due this week, counted over the steps due
    by `last` alone (a range of the (owner, next_step_due) index, not every record)."""
    dues = (NextStepDue.OVERDUE, NextStepDue.TODAY, NextStepDue.THIS_WEEK)
    return records.filter(next_step_due__lte=last).aggregate(
        **{due.value: Count("pk", filter=next_step_due_condition(due, today=today)) for due in dues}
    )


def _capped_count(records: QuerySet) -> int:
    """How many `records` there are, counted up to settings.CRM_EXACT_COUNT_LIMIT: past it an
    ApproximateCount ("more than 10,000"), as the lists say. One query reading at most the
    limit + 1 rows."""
    limit = exact_count_limit()
    count = records.order_by().values("pk")[: limit + 1].count()
    return ApproximateCount(count, more_than=limit) if count > limit else count


def my_day(
    *,
    user,
    today: date | None = None,
    limit: int = 10,
    deals: bool = True,
    contacts: bool = True,
) -> MyDay:
    """The dashboard's My day for `user`: next steps of their open deals and of the contacts
    they own, overdue or due today, then due in the next 7 days, at most `limit` in each part
    (from the 2 x `limit` soonest due of each kind), with counts. `deals` / `contacts` False
    leaves that kind out: no query, no counts.

    Queries: per kind one count of the steps due by the week's end and one list, both through
    the (owner, next_step_due) indexes; for deals a third, the open deals without a step,
    counted up to settings.CRM_EXACT_COUNT_LIMIT (then "more than"; PostgreSQL reads them from
    migration 0012's partial index). Five with both kinds, whatever the number of records.
    """
    today = today or timezone.localdate()
    last = today + timedelta(days=NEXT_STEP_WEEK_DAYS)
    kinds = []
    if deals:
        kinds.append((Deal.objects.filter(_OPEN, owner=user), ("contact__company",)))
    if contacts:
        kinds.append((Contact.objects.filter(owner=user), ("company",)))
    counts = {}
    items = []
    for records, related in kinds:
        kind = records.model._meta.model_name
        for due, count in _dated_step_counts(records, today, last).items():
            counts[kind, due] = count
        if records.model is Deal:
            no_step = records.filter(next_step_due_condition(NextStepDue.NONE))
            counts[kind, NextStepDue.NONE.value] = _capped_count(no_step)
        upcoming = (
            records.filter(next_step_due__lte=last)
            .select_related(*related)
            .order_by("next_step_due", "pk")
        )
        items += [NextStepItem(record, record.next_step_due) for record in upcoming[: 2 * limit]]
    items.sort(key=lambda item: (item.due, item.kind, item.record.pk))
    return MyDay(
        now=[item for item in items if item.due <= today][:limit],
        week=[item for item in items if item.due > today][:limit],
        counts=counts,
    )


@dataclass
class BoardColumn:
    stage: Stage
    count: int
    value: Decimal
    weighted: Decimal
    cards: list[Deal]

    @property
    def hidden(self) -> int:
        return self.count - len(self.cards)


def board_totals(deals: QuerySet[Deal]) -> dict[int, tuple[int, Decimal, Decimal]]:
    """{stage id: (count, value, weighted value)} for `deals`; one grouped query. Every deal
    (the unfiltered board) on PostgreSQL reads the running totals, other selections their rows.
    """
    if _keeps_running_totals() and _is_every_deal(deals):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT stage_id, sum(deals), sum(amount), sum(amount_x_probability)"
                " FROM crm_deal_totals GROUP BY stage_id HAVING sum(deals) <> 0"
            )
            return {
                stage_id: (int(count), money(value), weighted(amount_x_probability))
                for stage_id, count, value, amount_x_probability in cursor.fetchall()
            }
    rows = (
        deals.order_by()
        .values("stage")
        .annotate(
            n=Count("pk"), value=ExactSum("amount"), weighted=ExactSum(_AMOUNT_TIMES_PROBABILITY)
        )
    )
    return {
        row["stage"]: (row["n"], money(row["value"]), weighted(row["weighted"])) for row in rows
    }


def pipeline_board(deals: QuerySet[Deal], *, cards_per_stage: int = 50) -> list[BoardColumn]:
    """One column per stage, in pipeline order, for the (filtered) `deals`.

    Each column carries its totals and its largest deals (at most `cards_per_stage`, by
    amount), each card with its stage (the column's: deal.is_stale() needs no query) and lost
    reason. Queries: one for the stages, one for the totals, and one per stage for its cards
    (served by the (stage, amount) index), whatever the number of deals.
    """
    stages = list(Stage.objects.order_by("order", "id"))
    totals = board_totals(deals)
    cards = deals.select_related("contact__company", "owner", "lost_reason").order_by(
        F("amount").desc(nulls_last=True), "pk"
    )
    columns = []
    for stage in stages:
        count, value, weighted_value = totals.get(stage.pk, (0, money(0), money(0)))
        stage_cards = list(cards.filter(stage=stage)[:cards_per_stage])
        for card in stage_cards:
            card.stage = stage
        columns.append(BoardColumn(stage, count, value, weighted_value, stage_cards))
    return columns


def active_staff() -> QuerySet:
    """Active staff users by username: who may own a deal (the owner filter's and the assign
    action's choices). One query when evaluated."""
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
