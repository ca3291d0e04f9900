"""Stale deals in the admin: the deal list's filter and stage mark, the board card's mark and
the deal page's time in stage, the same in every time zone and at a constant query cost; and
the lost reason filter."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin.models import Deal
from tests.factories import lost_reason, make_contact, make_deal, stage

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
BOARD = reverse("admin:crm_admin_deal_board")
# From UTC+14 to UTC-11: a day boundary falls somewhere else in each.
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"]


def entered(deal, *, ago: timedelta) -> Deal:
    """Say `deal` entered its stage `ago` (as if the move had happened then)."""
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=timezone.now() - ago)
    deal.refresh_from_db()
    return deal


@pytest.fixture
def deals():
    """Negotiation goes stale after 10 days; Closed-Lost has a setting too (written past the
    form, which refuses it), which must do nothing."""
    negotiation, closed_lost = stage("Negotiation"), stage("Closed-Lost")
    negotiation.stale_after_days = 10
    negotiation.save()
    type(closed_lost).objects.filter(pk=closed_lost.pk).update(stale_after_days=1)
    days = timedelta(days=1)
    return {
        "stale": entered(make_deal(title="Stale", stage=negotiation), ago=11 * days),
        "just stale": entered(
            make_deal(title="Just stale", stage=negotiation),
            ago=10 * days + timedelta(minutes=1),
        ),
        "not yet": entered(
            make_deal(title="Not yet", stage=negotiation), ago=10 * days - timedelta(minutes=1)
        ),
        "fresh": make_deal(title="Fresh", stage=negotiation),
        "no setting": entered(make_deal(title="No setting"), ago=300 * days),
        "closed": entered(
            make_deal(title="Closed", stage=closed_lost, lost_reason=lost_reason()),
            ago=300 * days,
        ),
    }


STALE = {"Stale", "Just stale"}


def listed(client, **params) -> set[str]:
    response = client.get(DEALS, params)
    assert response.status_code == 200
    return {deal.title for deal in response.context["cl"].result_list}


def marked_on_board(client) -> dict[str, str]:
    response = client.get(BOARD)
    assert response.status_code == 200
    return {
        deal.title: str(deal.stale_mark)
        for column in response.context["columns"]
        for deal in column.cards
        if deal.stale_mark
    }


@pytest.mark.parametrize("zone", ZONES)
def test_the_stale_filter_lists_exactly_the_stale_deals_in_every_time_zone(
    staff_client, deals, settings, zone
):
    settings.TIME_ZONE = zone
    assert listed(staff_client, stale="yes") == STALE
    with timezone.override(zone):
        assert set(Deal.objects.stale().values_list("title", flat=True)) == STALE
    assert listed(staff_client) == set(map(str, (deal.title for deal in deals.values())))


@pytest.mark.parametrize("zone", ZONES)
def test_the_board_marks_exactly_the_stale_cards_in_every_time_zone(
    staff_client, deals, settings, zone
):
    settings.TIME_ZONE = zone
    marks = marked_on_board(staff_client)
    assert set(marks) == STALE
    assert "Stale · 11 days" in marks["Stale"]
    assert "Stale · 10 days" in marks["Just stale"]
    page = staff_client.get(BOARD).content.decode()
    assert page.count("Stale · ") == 2


@pytest.mark.parametrize("zone", ZONES)
def test_the_list_marks_the_stage_of_stale_deals_in_every_time_zone(
    staff_client, deals, settings, zone
):
    settings.TIME_ZONE = zone
    page = staff_client.get(DEALS).content.decode()
    assert page.count("; stale after ") == 2
    assert 'title="In this stage for 11 days; stale after 10.">stale</span>' in page
    assert 'title="In this stage for 10 days; stale after 10.">stale</span>' in page


@pytest.mark.parametrize(
    ("zone", "local_date"),
    [
        ("UTC", "March 1, 2026"),
        ("Pacific/Kiritimati", "March 2, 2026"),
        ("Pacific/Pago_Pago", "March 1, 2026"),
        ("Asia/Kolkata", "March 2, 2026"),
    ],
)
def test_the_deal_page_says_since_when_and_how_long_in_every_time_zone(
    staff_client, deals, settings, zone, local_date
):
    settings.TIME_ZONE = zone
    stale = deals["stale"]
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    Deal.objects.filter(pk=stale.pk).update(stage_entered_at=moment)
    days = (timezone.now() - moment).days
    html = staff_client.get(reverse("admin:crm_admin_deal_change", args=[stale.pk])).content
    html = html.decode()
    assert "In stage since" in html
    assert f"{local_date} ({days} days)" in html, "the date is local, the days are elapsed"
    assert re.search(r"\(\d+ days\) <span [^>]*> Stale </span>", html), "the mark follows"
    fresh = staff_client.get(reverse("admin:crm_admin_deal_change", args=[deals["fresh"].pk]))
    fresh_html = fresh.content.decode()
    assert "(0 days)" in fresh_html
    assert not re.search(r"> Stale </span>", fresh_html)


def count_queries(client, url, params) -> int:
    client.get(url, params)  # warm-up: session and per-process caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("url", "params"),
    [(DEALS, {}), (DEALS, {"stale": "yes"}), (BOARD, {}), (BOARD, {"stale": "yes"})],
)
def test_list_and_board_cost_the_same_whether_deals_are_stale_or_not(staff_client, url, params):
    negotiation = stage("Negotiation")
    negotiation.stale_after_days = 5
    negotiation.save()
    contact = make_contact()
    Deal.objects.bulk_create(
        Deal(title=f"D{i}", contact=contact, stage=negotiation) for i in range(30)
    )
    none_stale = count_queries(staff_client, url, params)
    Deal.objects.update(stage_entered_at=timezone.now() - timedelta(days=6))
    assert Deal.objects.stale().count() == 30
    all_stale = count_queries(staff_client, url, params)
    assert none_stale == all_stale


def test_select_all_on_the_stale_filter_acts_on_the_stale_deals_only(staff_client, deals):
    response = staff_client.post(
        f"{DEALS}?stale=yes",
        {"action": "mark_won", "index": "0", "select_across": "1", "_selected_action": ["0"]},
        follow=True,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["2 deals marked as won."]
    assert set(Deal.objects.filter(stage__outcome="won").values_list("title", flat=True)) == STALE


def test_select_all_on_a_stale_filter_no_stage_makes_stale_changes_nothing(staff_client):
    deal = make_deal()
    response = staff_client.post(
        f"{DEALS}?stale=yes",
        {"action": "mark_won", "index": "0", "select_across": "1", "_selected_action": ["0"]},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["0 deals marked as won."]
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_the_lost_reason_filter(staff_client):
    lost = stage("Closed-Lost")
    make_deal(title="Too dear", stage=lost, lost_reason=lost_reason("Price"))
    make_deal(title="Went elsewhere", stage=lost, lost_reason=lost_reason("Competitor"))
    make_deal(title="Unexplained", stage=lost)
    make_deal(title="Open")
    assert listed(staff_client, lost_reason=lost_reason("Price").pk) == {"Too dear"}
    assert listed(staff_client, lost_reason="none") == {"Unexplained"}
    assert len(listed(staff_client, lost_reason="not-an-id")) == 4
    page = staff_client.get(DEALS).content.decode()
    assert "Lost without a reason" in page
