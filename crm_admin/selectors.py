"""Reads shared by the dashboard and the pipeline board: aggregates computed by the database.

No function here loops over deals in Python; each docstring says how many queries it runs.
Money sums are Decimals rounded to cents (SQLite sums decimals as floats; the true values have
two decimal places, so rounding to cents gives the exact figure on both databases).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.utils import timezone

from crm_admin.models import Contact, Deal, Stage

CENTS = Decimal("0.01")
FOLLOW_UP_DAYS = 30
WIN_RATE_DAYS = 90

# amount x probability keeps two decimal places; dividing by 100 happens in Python.
_AMOUNT_TIMES_PROBABILITY = ExpressionWrapper(
    F("amount") * F("probability"), output_field=DecimalField(max_digits=20, decimal_places=2)
)
_OPEN = Q(stage__outcome=Stage.Outcome.OPEN)


def money(value) -> Decimal:
    """A sum from the database as an exact Decimal in cents (None counts as zero)."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(round(value, 2))).quantize(CENTS, rounding=ROUND_HALF_UP)


def weighted(amount_times_probability) -> Decimal:
    """Turn a sum of amount x probability into money: divide by 100, round half up to cents."""
    return (money(amount_times_probability) / 100).quantize(CENTS, rounding=ROUND_HALF_UP)


def month_start(day: date, months: int = 0) -> date:
    """The first day of the month `months` after (or before, if negative) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _aware_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


@dataclass(frozen=True)
class PipelineFigures:
    open_value: Decimal
    weighted_forecast: Decimal
    won_this_month_count: int
    won_this_month_value: Decimal
    win_rate: float | None  # None when nothing closed in the window
    closed_in_window: int
    follow_ups_due: int


def contacts_due_follow_up(*, now: datetime | None = None) -> QuerySet[Contact]:
    """Contacts not contacted for FOLLOW_UP_DAYS days, or never: the "30d" list filter's rows."""
    return Contact.objects.not_contacted_for(days=FOLLOW_UP_DAYS, now=now)


@dataclass(frozen=True)
class StagePipeline:
    stage: Stage
    value: Decimal
    amount_x_probability: Decimal  # kept unrounded, so that totals round once

    @property
    def weighted(self) -> Decimal:
        return weighted(self.amount_x_probability)


def pipeline_value_by_stage() -> list[StagePipeline]:
    """Open stages in pipeline order with their deals' value and weighted value; one query."""
    stages = (
        Stage.objects.filter(outcome=Stage.Outcome.OPEN)
        .annotate(
            value=Sum("deals__amount"),
            amount_x_probability=Sum(
                ExpressionWrapper(
                    F("deals__amount") * F("deals__probability"),
                    output_field=DecimalField(max_digits=20, decimal_places=2),
                )
            ),
        )
        .order_by("order", "id")
    )
    return [
        StagePipeline(stage, money(stage.value), money(stage.amount_x_probability))
        for stage in stages
    ]


def pipeline_figures(
    *, now: datetime | None = None, by_stage: list[StagePipeline] | None = None
) -> PipelineFigures:
    """The dashboard's headline figures. Four queries at most, none reading every deal twice:
    the open pipeline comes from `by_stage` (pipeline_value_by_stage(), run here if not
    given); won and lost deals are read through the `closed_at` index; follow-ups are two
    index counts (never contacted, contacted before the cut-off).

    "Won this month" and the win rate go by `closed_at` (the month in the current time zone;
    the last 90 days).
    """
    now = now or timezone.now()
    by_stage = pipeline_value_by_stage() if by_stage is None else by_stage
    this_month = _aware_midnight(month_start(timezone.localdate(now)))
    window_start = now - timedelta(days=WIN_RATE_DAYS)
    won = Q(stage__outcome=Stage.Outcome.WON)
    lost = Q(stage__outcome=Stage.Outcome.LOST)
    won_month = won & Q(closed_at__gte=this_month)
    closed = Deal.objects.filter(closed_at__gte=min(this_month, window_start)).aggregate(
        won_month_count=Count("pk", filter=won_month),
        won_month_value=Sum("amount", filter=won_month),
        won_window=Count("pk", filter=won & Q(closed_at__gte=window_start)),
        lost_window=Count("pk", filter=lost & Q(closed_at__gte=window_start)),
    )
    closed_count = closed["won_window"] + closed["lost_window"]
    cutoff = now - timedelta(days=FOLLOW_UP_DAYS)
    follow_ups = (
        Contact.objects.filter(last_contacted_at__isnull=True).count()
        + Contact.objects.filter(last_contacted_at__lt=cutoff).count()
    )
    return PipelineFigures(
        open_value=sum((row.value for row in by_stage), Decimal("0.00")),
        weighted_forecast=weighted(sum(row.amount_x_probability for row in by_stage)),
        won_this_month_count=closed["won_month_count"],
        won_this_month_value=money(closed["won_month_value"]),
        win_rate=closed["won_window"] / closed_count if closed_count else None,
        closed_in_window=closed_count,
        follow_ups_due=follow_ups,
    )


def forecast_by_month(*, months: int = 6, today: date | None = None) -> list[tuple[date, Decimal]]:
    """Weighted value of open deals by expected close month, this month and the next
    `months - 1`; months without deals count zero.

    One query: a conditional sum per month over the `expected_close_date` index range (no
    month truncation, which SQLite would run as a Python function on every row).
    """
    today = today or timezone.localdate()
    starts = [month_start(today, i) for i in range(months + 1)]
    sums = {
        f"m{i}": Sum(
            _AMOUNT_TIMES_PROBABILITY,
            filter=Q(expected_close_date__gte=starts[i], expected_close_date__lt=starts[i + 1]),
        )
        for i in range(months)
    }
    row = Deal.objects.filter(
        _OPEN, expected_close_date__gte=starts[0], expected_close_date__lt=starts[-1]
    ).aggregate(**sums)
    return [(starts[i], weighted(row[f"m{i}"])) for i in range(months)]


def won_lost_by_month(*, months: int = 6, today: date | None = None) -> list[tuple[date, int, int]]:
    """(month, deals won, deals lost) by `closed_at` for this month and the `months - 1`
    before it, oldest first; months are those of the current time zone.

    One query: conditional counts per month over the `closed_at` index range.
    """
    today = today or timezone.localdate()
    starts = [month_start(today, i - (months - 1)) for i in range(months + 1)]
    bounds = [_aware_midnight(start) for start in starts]
    won, lost = Q(stage__outcome=Stage.Outcome.WON), Q(stage__outcome=Stage.Outcome.LOST)
    counts = {}
    for i in range(months):
        in_month = Q(closed_at__gte=bounds[i], closed_at__lt=bounds[i + 1])
        counts[f"won{i}"] = Count("pk", filter=in_month & won)
        counts[f"lost{i}"] = Count("pk", filter=in_month & lost)
    row = Deal.objects.filter(closed_at__gte=bounds[0], closed_at__lt=bounds[-1]).aggregate(
        **counts
    )
    return [(starts[i], row[f"won{i}"], row[f"lost{i}"]) for i in range(months)]


def deals_closing_soon(*, user, limit: int = 10) -> QuerySet[Deal]:
    """The user's open deals by expected close date, soonest first (undated last); one query."""
    return (
        Deal.objects.filter(_OPEN, owner=user)
        .select_related("contact__company", "stage")
        .order_by(F("expected_close_date").asc(nulls_last=True), "-amount", "pk")[:limit]
    )


def follow_ups_due(*, limit: int = 10, now: datetime | None = None) -> QuerySet[Contact]:
    """The contacts most overdue for a follow-up: never contacted first, then the oldest."""
    return (
        contacts_due_follow_up(now=now)
        .select_related("company")
        .order_by(F("last_contacted_at").asc(nulls_first=True), "pk")[:limit]
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
    """{stage id: (count, value, weighted value)} for `deals`; one grouped query."""
    rows = (
        deals.order_by()
        .values("stage")
        .annotate(n=Count("pk"), value=Sum("amount"), weighted=Sum(_AMOUNT_TIMES_PROBABILITY))
    )
    return {
        row["stage"]: (row["n"], money(row["value"]), weighted(row["weighted"])) for row in rows
    }


def pipeline_board(deals: QuerySet[Deal], *, cards_per_stage: int = 50) -> list[BoardColumn]:
    """One column per stage, in pipeline order, for the (filtered) `deals`.

    Each column carries its totals and its largest deals (at most `cards_per_stage`, by
    amount). Queries: one for the stages, one for the totals, and one per stage for its cards
    (served by the (stage, amount) index), whatever the number of deals.
    """
    stages = list(Stage.objects.order_by("order", "id"))
    totals = board_totals(deals)
    cards = deals.select_related("contact__company", "owner").order_by(
        F("amount").desc(nulls_last=True), "pk"
    )
    columns = []
    for stage in stages:
        count, value, weighted_value = totals.get(stage.pk, (0, money(0), money(0)))
        stage_cards = list(cards.filter(stage=stage)[:cards_per_stage])
        columns.append(BoardColumn(stage, count, value, weighted_value, stage_cards))
    return columns
