"""Reads of the deal history for the dashboard: pipeline velocity, stage-to-stage conversion,
deals lost by reason, and the stale deals (issue 13).

Each is one aggregate query over the stage history (DealStageChange) or the deals, computed
by the database, whatever the number of rows; each docstring says how many queries it runs.
The window is elapsed time, `now` minus HISTORY_DAYS days, the same instant in every time zone;
rows at its start count, as for the dashboard's win rate.

Each takes the `user` whose dashboard it is for: its figures are over the deals that user sees
(models.visible_deals_condition; history rows through their deal), every deal for None.

Durations are summed exactly (DurationSum): the averages are exact totals divided by exact
counts, never the database's own average of durations (SQLite's AVG of them is a float of
microseconds).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Max,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RowRange
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.deal_history import DealStageChange
from crm_admin.models import Deal, Stage, stale_condition, visible_deals_condition
from crm_admin.selectors import ExactSum, money

HISTORY_DAYS = 90
SECONDS_PER_DAY = 24 * 60 * 60


def history_window_start(*, now: datetime | None = None) -> datetime:
    """Where "the last 90 days" begins: `now` (default: the current time) minus HISTORY_DAYS
    days of 24 hours, an aware instant. No query."""
    return (now or timezone.now()) - timedelta(days=HISTORY_DAYS)


class DurationSum(Sum):
    """SUM of a duration, exact to the microsecond on both databases, read as a timedelta
    (None when no row is summed).

    PostgreSQL sums intervals exactly. SQLite holds a duration as integer microseconds
    (Django's django_timestamp_diff), whose sum would pass SQLite's 64-bit integers (an
    "integer overflow" error) beyond 292,000 years of stays in all: there the whole seconds
    and the microseconds left are summed apart, neither of which can overflow, and joined here.
    """

    # Not a DurationField: Django's SQLite converter would read the joined text as microseconds.
    output_field = CharField()
    _MICROSECONDS = 1_000_000

    def as_sqlite(self, compiler, connection, **extra_context):
        value = self.get_source_expressions()[0]
        if self.filter is not None:
            value = Case(When(self.filter, then=value))
        sql, params = compiler.compile(value)
        whole = f"SUM(({sql}) / {self._MICROSECONDS})"
        rest = f"SUM(({sql}) %% {self._MICROSECONDS})"
        return f"{whole} || ',' || {rest}", (*params, *params)

    def convert_value(self, value, expression, connection):
        if value is None or isinstance(value, timedelta):
            return value
        seconds, microseconds = (int(part) for part in value.split(","))
        return timedelta(seconds=seconds, microseconds=microseconds)


def _visible_history(user) -> Q:
    """The stage history rows of the deals `user` sees; every row for None."""
    return Q() if user is None else visible_deals_condition(user, through="deal__")


def _visible_deals(user):
    return Deal.objects.all() if user is None else Deal.objects.visible_to(user)


def _stages(stages: list[Stage] | None) -> list[Stage]:
    """The stages in pipeline order: `stages` as given, or read (one query)."""
    if stages is None:
        return list(Stage.objects.order_by("order", "id"))
    return sorted(stages, key=lambda stage: (stage.order, stage.pk))


@dataclass(frozen=True)
class StageVelocity:
    """How long deals stayed in `stage` before they left it in the window: `left` times a deal
    left it (a deal that left it twice counts twice), `timed` of them with a known entry, and
    the exact `time_spent` of those."""

    stage: Stage
    left: int
    timed: int
    time_spent: timedelta

    @property
    def average(self) -> timedelta | None:
        return self.time_spent / self.timed if self.timed else None

    @property
    def average_days(self) -> float | None:
        """The average stay in days of 24 hours (None when no timed deal left)."""
        if not self.timed:
            return None
        return self.time_spent.total_seconds() / SECONDS_PER_DAY / self.timed


def pipeline_velocity(
    *, now: datetime | None = None, stages: list[Stage] | None = None, user=None
) -> list[StageVelocity]:
    """For every stage, in pipeline order, the deals that left it in the last HISTORY_DAYS
    days (history rows from the stage, `changed_at` in the window) and the time they had spent
    in it (`changed_at` - `from_stage_entered_at`); a stage nobody left has zeros.

    One grouped query over the window's rows, plus one for the stages unless `stages` is
    given.
    """
    rows = (
        DealStageChange.objects.filter(
            _visible_history(user),
            changed_at__gte=history_window_start(now=now),
            from_stage__isnull=False,
        )
        .order_by()
        .values("from_stage")
        .annotate(
            left=Count("pk"),
            timed=Count("from_stage_entered_at"),
            spent=DurationSum(F("changed_at") - F("from_stage_entered_at")),
        )
    )
    by_stage = {row["from_stage"]: row for row in rows}
    figures = []
    for stage in _stages(stages):
        row = by_stage.get(stage.pk, {})
        figures.append(
            StageVelocity(
                stage=stage,
                left=row.get("left", 0),
                timed=row.get("timed", 0),
                time_spent=row.get("spent") or timedelta(0),
            )
        )
    return figures


@dataclass(frozen=True)
class StageConversion:
    """Of the `entered` deals that entered open `stage` in the window, the `reached` ones
    later moved on: into an open stage further in the pipeline, or a won one."""

    stage: Stage
    entered: int
    reached: int

    @property
    def rate(self) -> float | None:
        return self.reached / self.entered if self.entered else None


def _pipeline_place(stages: list[Stage]) -> Case:
    """A history row's target stage's place in the pipeline: the open stages by their order
    (0, 1, ...), every won stage past them all, any other stage (lost) -1."""
    open_stages = [stage for stage in stages if stage.outcome == Stage.Outcome.OPEN]
    won = [stage for stage in stages if stage.outcome == Stage.Outcome.WON]
    places = [When(to_stage_id=stage.pk, then=Value(i)) for i, stage in enumerate(open_stages)]
    places += [When(to_stage_id=stage.pk, then=Value(len(open_stages))) for stage in won]
    return Case(*places, default=Value(-1), output_field=IntegerField())


def pipeline_conversion(
    *, now: datetime | None = None, stages: list[Stage] | None = None, user=None
) -> list[StageConversion]:
    """For every open stage, in pipeline order: how many deals entered it in the last
    HISTORY_DAYS days (history rows into it, creations included, `changed_at` in the window)
    and how many of them later reached the next open stage or one beyond, or won (a later row
    of the same deal, by time and then by id, into such a stage; a deal that entered a stage
    twice counts once, and reached it if either entry moved on). A stage nobody entered has
    zeros.

    One query, plus one for the stages unless `stages` is given: a window over the window's
    rows of each deal, newest first (the (deal, -changed_at, -id) index, no sort), gives each
    row the furthest place its deal reached after it; the rows into open stages are then
    counted by stage. The rows after an entry in the window are in the window too, so no
    older row is read.
    """
    stages = _stages(stages)
    open_ids = [stage.pk for stage in stages if stage.outcome == Stage.Outcome.OPEN]
    if not open_ids:
        return []
    place = _pipeline_place(stages)
    rows = (
        DealStageChange.objects.filter(
            _visible_history(user), changed_at__gte=history_window_start(now=now)
        )
        .order_by()
        .annotate(
            place=place,
            furthest_after=Window(
                Max(place),
                partition_by=[F("deal_id")],
                order_by=[F("changed_at").desc(), F("id").desc()],
                frame=RowRange(start=None, end=-1),
            ),
        )
        .values("deal_id", "to_stage_id", "place", "furthest_after")
    )
    rows_sql, params = rows.query.sql_with_params()
    # COUNT over a window function needs the window in a subquery, which the ORM does not
    # aggregate over; the subquery is the ORM's own SQL.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.to_stage_id, COUNT(DISTINCT e.deal_id),"
            " COUNT(DISTINCT CASE WHEN e.furthest_after > e.place THEN e.deal_id END)"
            f" FROM ({rows_sql}) e WHERE e.to_stage_id IN ({', '.join(['%s'] * len(open_ids))})"
            " GROUP BY e.to_stage_id",
            [*params, *open_ids],
        )
        counts = {stage_id: (entered, reached) for stage_id, entered, reached in cursor}
    return [
        StageConversion(stage, *counts.get(stage.pk, (0, 0)))
        for stage in stages
        if stage.pk in open_ids
    ]


@dataclass(frozen=True)
class LostReasonFigure:
    """The deals lost for one reason (`reason_id` None: no reason given) in the window, and
    their exact value."""

    reason_id: int | None
    name: str
    count: int
    value: Decimal


def lost_by_reason(*, now: datetime | None = None, user=None) -> list[LostReasonFigure]:
    """The deals in a lost stage closed in the last HISTORY_DAYS days (by `closed_at`, as the
    win rate counts them), by lost reason: count and exact value, in the reasons' order, the
    deals without a reason ("No reason") last. Reasons without such deals are left out.

    One grouped query (the `closed_at` index), whatever the number of deals.
    """
    rows = (
        _visible_deals(user)
        .filter(stage__outcome=Stage.Outcome.LOST, closed_at__gte=history_window_start(now=now))
        .order_by()
        .values("lost_reason", "lost_reason__name", "lost_reason__order")
        .annotate(count=Count("pk"), value=ExactSum("amount"))
    )
    rows = sorted(
        rows,
        key=lambda row: (
            row["lost_reason"] is None,
            row["lost_reason__order"] or 0,
            row["lost_reason__name"] or "",
            row["lost_reason"] or 0,
        ),
    )
    return [
        LostReasonFigure(
            reason_id=row["lost_reason"],
            name=row["lost_reason__name"] or str(_("No reason")),
            count=row["count"],
            value=money(row["value"]),
        )
        for row in rows
    ]


def stale_deal_count(
    *, now: datetime | None = None, stages: list[Stage] | None = None, user=None
) -> int:
    """How many deals are stale at `now` (models.stale_condition: open, in their stage for
    longer than its `stale_after_days`), exactly.

    One COUNT (the (stage, stage_entered_at) index finds a few stale deals among many), plus
    one query for the stages unless `stages` is given; none at all when no open stage has
    `stale_after_days`.
    """
    stages = [stage for stage in _stages(stages) if stage.stale_after_days]
    return _visible_deals(user).filter(stale_condition(now=now, stages=stages)).count()
