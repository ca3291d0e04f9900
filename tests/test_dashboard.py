"""The admin index dashboard: figures against hand-computed values, and a flat query count."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import selectors
from crm_admin.models import Deal
from tests.factories import make_contact, make_deal, stage

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2026, 11, 24, 12, 0))
TODAY = NOW.date()


def closed(deal, when):
    Deal.objects.filter(pk=deal.pk).update(closed_at=when)


@pytest.fixture
def pipeline():
    """A small pipeline whose figures are worked out by hand in the tests."""
    prospecting, negotiation = stage("Prospecting"), stage("Negotiation")
    make_deal(
        stage=prospecting,
        amount=Decimal("1000.00"),
        probability=10,
        expected_close_date=date(2026, 11, 30),
    )
    make_deal(
        stage=negotiation,
        amount=Decimal("2500.50"),
        probability=50,
        expected_close_date=date(2027, 1, 15),
    )
    make_deal(
        stage=negotiation,
        amount=Decimal("10.05"),
        probability=50,
        expected_close_date=date(2027, 1, 2),
    )
    make_deal(stage=negotiation, amount=None, probability=90)
    make_deal(
        stage=prospecting,
        amount=Decimal("700.00"),
        probability=30,
        expected_close_date=date(2027, 6, 1),
    )  # beyond the six-month window
    won_now = make_deal(stage=stage("Closed-Won"), amount=Decimal("4000.00"))
    closed(won_now, NOW - timedelta(days=2))
    won_earlier = make_deal(stage=stage("Closed-Won"), amount=Decimal("3000.00"))
    closed(won_earlier, timezone.make_aware(datetime(2026, 10, 5, 9, 0)))
    lost = make_deal(stage=stage("Closed-Lost"), amount=Decimal("500.00"))
    closed(lost, timezone.make_aware(datetime(2026, 9, 20, 9, 0)))
    old_lost = make_deal(stage=stage("Closed-Lost"), amount=Decimal("800.00"))
    closed(old_lost, NOW - timedelta(days=200))  # May: outside every window
    # Follow-ups: the deals' contacts were never contacted; add one recent and one stale.
    make_contact(last_contacted_at=NOW - timedelta(days=5))
    make_contact(last_contacted_at=NOW - timedelta(days=31))


def test_headline_figures_match_hand_computed_values(pipeline):
    figures = selectors.pipeline_figures(now=NOW)
    assert figures.open_value == Decimal("4210.55")  # 1000 + 2500.50 + 10.05 + 700
    # (1000*10 + 2500.50*50 + 10.05*50 + 700*30) / 100 = 100 + 1250.25 + 5.025 + 210
    assert figures.weighted_forecast == Decimal("1565.28")
    assert figures.won_this_month_count == 1
    assert figures.won_this_month_value == Decimal("4000.00")
    assert figures.win_rate == pytest.approx(2 / 3)  # 2 won, 1 lost in 90 days
    assert figures.closed_in_window == 3
    assert figures.follow_ups_due == 9 + 1  # nine never-contacted deal contacts, one stale


def test_pipeline_value_by_stage_in_stage_order(pipeline):
    assert [(r.stage.name, r.value, r.weighted) for r in selectors.pipeline_value_by_stage()] == [
        ("Prospecting", Decimal("1700.00"), Decimal("310.00")),  # 100 + 210
        ("Negotiation", Decimal("2510.55"), Decimal("1255.28")),  # 1250.25 + 5.025
    ]


def test_forecast_by_month_covers_six_months_with_zeros(pipeline):
    assert selectors.forecast_by_month(today=TODAY) == [
        (date(2026, 11, 1), Decimal("100.00")),
        (date(2026, 12, 1), Decimal("0.00")),
        (date(2027, 1, 1), Decimal("1255.28")),  # 1250.25 + 5.025
        (date(2027, 2, 1), Decimal("0.00")),
        (date(2027, 3, 1), Decimal("0.00")),
        (date(2027, 4, 1), Decimal("0.00")),
    ]


def test_won_and_lost_by_month(pipeline):
    rows = selectors.won_lost_by_month(today=TODAY)
    assert rows[0][0] == date(2026, 6, 1)
    assert len(rows) == 6
    assert rows[-3:] == [
        (date(2026, 9, 1), 0, 1),
        (date(2026, 10, 1), 1, 0),
        (date(2026, 11, 1), 1, 0),
    ]
    assert sum(won + lost for _month, won, lost in rows) == 3, "May's loss is outside"


def test_win_rate_is_none_when_nothing_closed():
    make_deal()
    assert selectors.pipeline_figures().win_rate is None


def test_dashboard_page_shows_figures_and_links(staff_client, admin_user, pipeline):
    make_deal(title="Mine soon", owner=admin_user, expected_close_date=TODAY, amount=Decimal(1))
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "USD 4,211.55" in page  # open pipeline including "Mine soon"
    assert "Mine soon" in page
    assert "?owner=mine&amp;status=open&amp;o=8" in page
    assert "?last_contacted=30d" in page
    for title in ("Pipeline value by stage", "Weighted forecast", "Won and lost"):
        assert title in page


def test_currency_comes_from_settings(staff_client, settings, pipeline):
    settings.CRM_CURRENCY = "EUR"
    assert "EUR 4,210.55" in staff_client.get(reverse("admin:index")).content.decode()


def _dashboard_queries(client) -> int:
    client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(captured)


def test_dashboard_query_count_is_flat(staff_client, admin_user):
    make_deal(owner=admin_user)
    small = _dashboard_queries(staff_client)
    contact = make_contact()
    Deal.objects.bulk_create(
        Deal(
            title=f"D{i}",
            contact=contact,
            stage=stage("Negotiation"),
            amount=Decimal(i),
            owner=admin_user,
            expected_close_date=TODAY + timedelta(days=i),
        )
        for i in range(300)
    )
    assert _dashboard_queries(staff_client) == small
