"""The dashboard's reads of the stage history (crm_admin/pipeline_history.py): pipeline velocity,
stage-to-stage conversion, lost by reason and the stale count, against hand-computed values;
the 90-day window's edge, any time zone, exact durations, and constant queries."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm_admin import pipeline_history, services
from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.models import Deal, Stage
from tests.factories import lost_reason, make_deal, stage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=90)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def journey(*steps, reason=None, **fields) -> Deal:
    """A deal created in the first step's stage and moved through the others by the bulk
    service, as the admin moves it; each history row is then dated (steps are (stage name,
    when)), keeping the rule: a row's from_stage_entered_at is the previous row's changed_at,
    and the deal entered its stage, and closed, at the newest."""
    (first, _when), *moves = steps
    deal = make_deal(stage=stage(first), **fields)
    for name, _when in moves:
        into = stage(name)
        services.deals_move_to_stage(
            deals=Deal.objects.filter(pk=deal.pk),
            stage=into,
            lost_reason=reason if into.outcome == Stage.Outcome.LOST else None,
        )
    rows = list(DealStageChange.objects.filter(deal=deal).order_by("id"))
    assert [row.to_stage.name for row in rows] == [name for name, _when in steps]
    entered = None
    for row, (_name, when) in zip(rows, steps, strict=True):
        DealStageChange.objects.filter(pk=row.pk).update(
            changed_at=when, from_stage_entered_at=entered
        )
        entered = when
    closed = entered if stage(steps[-1][0]).is_closed else None
    Deal.objects.filter(pk=deal.pk).update(
        created_at=steps[0][1], stage_entered_at=entered, closed_at=closed
    )
    return Deal.objects.get(pk=deal.pk)


@pytest.fixture
def pipeline():
    """Three open stages (Prospecting, Proposal, Negotiation), then won and lost, and deals
    whose stays are worked out by hand in the tests (days before NOW)."""
    Stage.objects.create(name="Proposal", order=2)
    for name, order in (("Negotiation", 3), ("Closed-Won", 4), ("Closed-Lost", 5)):
        Stage.objects.filter(name=name).update(order=order)
    price = lost_reason("Price")
    # A: created before the window; left Prospecting after 20 days, Negotiation after 70.
    journey(("Prospecting", ago(100)), ("Negotiation", ago(80)), ("Closed-Won", ago(10)))
    # B: back and forth, then lost; stays of 10 days each.
    journey(
        ("Prospecting", ago(60)),
        ("Negotiation", ago(50)),
        ("Prospecting", ago(40)),
        ("Closed-Lost", ago(30)),
        reason=price,
    )
    # C: created in Negotiation, still there.
    journey(("Negotiation", ago(20)))
    # E: created in Prospecting, still there.
    journey(("Prospecting", ago(5)))
    # F: skipped Proposal after 10 days in Prospecting.
    journey(("Prospecting", ago(30)), ("Negotiation", ago(20)))
    # G: created in Proposal, moved back after 5 days.
    journey(("Proposal", ago(15)), ("Prospecting", ago(10)))
    # H: created in Proposal, won after 6 days.
    journey(("Proposal", ago(12)), ("Closed-Won", ago(6)))


def velocity_by_name(**kwargs) -> dict[str, tuple[int, float | None]]:
    return {
        row.stage.name: (row.left, row.average_days)
        for row in pipeline_history.pipeline_velocity(now=NOW, **kwargs)
    }


def conversion_by_name(**kwargs) -> dict[str, tuple[int, int]]:
    return {
        row.stage.name: (row.entered, row.reached)
        for row in pipeline_history.pipeline_conversion(now=NOW, **kwargs)
    }


def test_velocity_averages_the_stays_of_the_deals_that_left_each_stage(pipeline):
    rows = pipeline_history.pipeline_velocity(now=NOW)
    assert [row.stage.name for row in rows] == [
        "Prospecting",
        "Proposal",
        "Negotiation",
        "Closed-Won",
        "Closed-Lost",
    ]
    assert velocity_by_name() == {
        # A 20, B 10 and 10 (it left twice), F 10: (20 + 10 + 10 + 10) / 4
        "Prospecting": (4, 12.5),
        # G 5, H 6
        "Proposal": (2, 5.5),
        # A 70, B 10; C never left
        "Negotiation": (2, 40.0),
        "Closed-Won": (0, None),
        "Closed-Lost": (0, None),
    }
    prospecting = rows[0]
    assert prospecting.time_spent == timedelta(days=50)
    assert prospecting.average == timedelta(days=12, hours=12)


def test_conversion_counts_the_deals_that_entered_a_stage_and_later_moved_on_or_won(pipeline):
    assert conversion_by_name() == {
        # B (twice: counted once), E, F and G (back from Proposal) entered in the window, A
        # before it; B reached Negotiation after its first entry, F skipped Proposal, E and G
        # stayed.
        "Prospecting": (4, 2),
        # G went back, H won.
        "Proposal": (2, 1),
        # A won; B went back, then lost; C and F stayed.
        "Negotiation": (4, 1),
    }
    rows = pipeline_history.pipeline_conversion(now=NOW)
    assert [row.rate for row in rows] == [0.5, 0.5, 0.25]


def test_conversion_follows_the_pipeline_order(pipeline):
    # Proposal comes before Negotiation in the pipeline (order 2 and 3) though it was added
    # after it (a higher id): a move from Proposal to Negotiation moves on.
    journey(("Proposal", ago(8)), ("Negotiation", ago(4)))
    assert conversion_by_name()["Proposal"] == (3, 2)
    # Proposal moves to the end of the open stages (after the closed ones too: their order
    # does not matter): that move now goes back.
    Stage.objects.filter(name="Proposal").update(order=10)
    assert conversion_by_name() == {
        "Prospecting": (4, 2),
        "Negotiation": (5, 1),
        "Proposal": (3, 1),
    }
    # C, still in Negotiation, moves to Proposal, which now comes after it: moving on.
    c = Deal.objects.get(stage__name="Negotiation", created_at=ago(20))
    services.deals_move_to_stage(deals=Deal.objects.filter(pk=c.pk), stage=stage("Proposal"))
    DealStageChange.objects.filter(deal=c, to_stage__name="Proposal").update(changed_at=ago(1))
    assert conversion_by_name()["Negotiation"] == (5, 2)


def test_a_stage_nobody_entered_or_left_has_zeros_and_no_rates():
    rows = pipeline_history.pipeline_conversion(now=NOW)
    assert [(row.entered, row.reached, row.rate) for row in rows] == [(0, 0, None)] * 2
    velocity = pipeline_history.pipeline_velocity(now=NOW)
    assert {(row.left, row.average_days, row.time_spent) for row in velocity} == {
        (0, None, timedelta(0))
    }


def test_the_window_starts_exactly_90_days_before_now():
    assert pipeline_history.history_window_start(now=NOW) == START
    inside = journey(("Prospecting", START - timedelta(days=3)), ("Negotiation", START))
    journey(
        ("Prospecting", START - timedelta(days=4)),
        ("Negotiation", START - timedelta(microseconds=1)),
    )
    assert velocity_by_name()["Prospecting"] == (1, 3.0)
    # Entered at the start: counted; a microsecond before: not.
    assert conversion_by_name()["Negotiation"] == (1, 0)
    services.deals_mark_won(deals=Deal.objects.filter(pk=inside.pk))
    assert conversion_by_name()["Negotiation"] == (1, 1)


def test_lost_by_reason_counts_and_sums_the_deals_lost_in_the_window(settings):
    settings.CRM_REQUIRE_LOST_REASON = False
    price, competitor = lost_reason("Price"), lost_reason("Competitor")
    journey(
        ("Prospecting", ago(40)),
        ("Closed-Lost", ago(20)),
        reason=price,
        amount=Decimal("250.50"),
    )
    journey(("Prospecting", ago(40)), ("Closed-Lost", ago(30)), reason=price)  # 1000.00
    journey(("Prospecting", ago(9)), ("Closed-Lost", ago(5)), reason=competitor, amount=None)
    journey(("Prospecting", ago(9)), ("Closed-Lost", ago(3)), amount=Decimal("99.99"))
    journey(("Prospecting", ago(200)), ("Closed-Lost", ago(120)), reason=price)  # before
    journey(("Prospecting", ago(99)), ("Closed-Lost", START), reason=competitor)  # the edge
    journey(("Prospecting", ago(99)), ("Closed-Won", ago(2)))
    # Lost, then reopened: no longer lost.
    journey(("Prospecting", ago(50)), ("Closed-Lost", ago(40)), ("Negotiation", ago(1)))

    rows = pipeline_history.lost_by_reason(now=NOW)
    assert [(row.name, row.count, row.value) for row in rows] == [
        ("Price", 2, Decimal("1250.50")),
        ("Competitor", 2, Decimal("1000.00")),
        ("No reason", 1, Decimal("99.99")),
    ]
    assert rows[0].reason_id == price.pk and rows[-1].reason_id is None


def test_lost_by_reason_follows_the_reasons_order_then_no_reason_last(settings):
    settings.CRM_REQUIRE_LOST_REASON = False
    journey(("Prospecting", ago(9)), ("Closed-Lost", ago(3)))
    journey(("Prospecting", ago(9)), ("Closed-Lost", ago(3)), reason=lost_reason("Other"))
    journey(("Prospecting", ago(9)), ("Closed-Lost", ago(3)), reason=lost_reason("Timing"))
    assert [row.name for row in pipeline_history.lost_by_reason(now=NOW)] == [
        "Timing",
        "Other",
        "No reason",
    ]
    LostReason.objects.filter(name="Other").update(order=0)
    assert pipeline_history.lost_by_reason(now=NOW)[0].name == "Other"


def test_the_stale_count_is_the_deals_past_their_stage_limit():
    Stage.objects.filter(name="Negotiation").update(stale_after_days=10)
    Stage.objects.filter(name="Closed-Lost").update(stale_after_days=1)  # closed: never stale
    journey(("Prospecting", ago(300)))  # no limit in Prospecting
    journey(("Prospecting", ago(40)), ("Negotiation", ago(11)))  # stale
    journey(("Negotiation", ago(10) - timedelta(seconds=1)))  # stale: a second past the limit
    journey(("Negotiation", ago(10)))  # exactly ten days: not yet
    journey(("Negotiation", ago(10) + timedelta(seconds=1)))
    journey(("Prospecting", ago(40)), ("Closed-Lost", ago(30)), reason=lost_reason())
    assert pipeline_history.stale_deal_count(now=NOW) == 2
    assert pipeline_history.stale_deal_count(now=NOW) == Deal.objects.stale(now=NOW).count()


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_every_figure_is_the_same_in_any_time_zone(settings, pipeline, zone):
    settings.TIME_ZONE = zone
    Stage.objects.filter(name="Prospecting").update(stale_after_days=7)
    assert pipeline_history.history_window_start(now=NOW) == START
    assert velocity_by_name()["Prospecting"] == (4, 12.5)
    assert conversion_by_name()["Prospecting"] == (4, 2)
    assert [(row.name, row.count) for row in pipeline_history.lost_by_reason(now=NOW)] == [
        ("Price", 1)
    ]
    # In Prospecting: G for 10 days (stale), E for 5.
    assert pipeline_history.stale_deal_count(now=NOW) == 1


def test_stays_are_summed_exactly_to_the_microsecond():
    deal = journey(
        ("Prospecting", ago(10) - timedelta(microseconds=7)),
        ("Negotiation", ago(7)),
        ("Prospecting", ago(6) - timedelta(microseconds=2)),
        ("Negotiation", ago(5)),
    )
    assert deal.stage.name == "Negotiation"
    prospecting = pipeline_history.pipeline_velocity(now=NOW)[0]
    # 3 days and 7 microseconds, then 1 day and 2.
    assert (prospecting.left, prospecting.timed) == (2, 2)
    assert prospecting.time_spent == timedelta(days=4, microseconds=9)
    assert prospecting.average == timedelta(days=4, microseconds=9) / 2


def test_a_sum_past_sqlites_64_bit_microseconds_is_still_exact():
    # 2,400 stays of 126 years: 9.5e18 microseconds, more than a 64-bit integer holds.
    deal = make_deal()
    entered, left = datetime(1900, 1, 1, tzinfo=UTC), ago(1)
    DealStageChange.objects.bulk_create(
        DealStageChange(
            deal=deal,
            from_stage=stage("Prospecting"),
            to_stage=stage("Negotiation"),
            changed_at=left,
            from_stage_entered_at=entered,
        )
        for _ in range(2400)
    )
    prospecting = pipeline_history.pipeline_velocity(now=NOW)[0]
    assert prospecting.left == 2400
    assert prospecting.time_spent == (left - entered) * 2400
    assert prospecting.average == left - entered


def test_a_departure_without_a_known_entry_counts_but_is_not_averaged():
    deal = journey(("Prospecting", ago(20)), ("Negotiation", ago(10)))
    DealStageChange.objects.filter(deal=deal, from_stage__isnull=False).update(
        from_stage_entered_at=None
    )
    journey(("Prospecting", ago(8)), ("Negotiation", ago(4)))
    prospecting = pipeline_history.pipeline_velocity(now=NOW)[0]
    assert (prospecting.left, prospecting.timed, prospecting.average_days) == (2, 1, 4.0)


def add_history(count: int) -> None:
    """`count` deals with histories through every kind of move, lost ones with a reason."""
    Stage.objects.filter(name="Negotiation").update(stale_after_days=3)
    for i in range(count):
        journey(("Prospecting", ago(30 + i)), ("Negotiation", ago(20 + i % 7)))
        journey(
            ("Negotiation", ago(40)),
            ("Closed-Lost" if i % 2 else "Closed-Won", ago(i % 60)),
            reason=lost_reason("Timing"),
        )


def test_each_figure_runs_one_query_whatever_the_history_size():
    def counts() -> list[int]:
        stages = list(Stage.objects.all())
        result = []
        for read in (
            lambda: pipeline_history.pipeline_velocity(now=NOW, stages=stages),
            lambda: pipeline_history.pipeline_conversion(now=NOW, stages=stages),
            lambda: pipeline_history.lost_by_reason(now=NOW),
            lambda: pipeline_history.stale_deal_count(now=NOW, stages=stages),
        ):
            with CaptureQueriesContext(connection) as captured:
                read()
            result.append(len(captured))
        return result

    add_history(2)
    small = counts()
    add_history(30)
    assert counts() == small == [1, 1, 1, 1]


def test_without_stages_given_each_reads_them_first(django_assert_num_queries):
    Stage.objects.filter(name="Negotiation").update(stale_after_days=3)
    with django_assert_num_queries(2):
        pipeline_history.pipeline_velocity(now=NOW)
    with django_assert_num_queries(2):
        pipeline_history.pipeline_conversion(now=NOW)
    with django_assert_num_queries(2):
        pipeline_history.stale_deal_count(now=NOW)


def test_no_stale_limit_means_no_count_query(django_assert_num_queries):
    stages = list(Stage.objects.all())
    with django_assert_num_queries(0):
        assert pipeline_history.stale_deal_count(now=NOW, stages=stages) == 0
