"""The admin index dashboard: figures against hand-computed values, and a flat query count.
Its stage history section loads on its own: tests/test_dashboard_history_fragment.py."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import selectors, services
from crm_admin.models import Deal, Stage
from tests.factories import lost_reason, make_contact, make_deal, make_user, stage
from tests.test_pipeline_history import journey

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
    # Nine never-contacted deal contacts, one stale.
    assert selectors.contacts_due_follow_up(now=NOW).count() == 9 + 1


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
    assert "?last_contacted=due" in page
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


PERMISSIONS = {
    "superuser": None,
    "deals and contacts": ["crm_admin.view_deal", "crm_admin.view_contact"],
    "deals": ["crm_admin.view_deal"],
    "contacts": ["crm_admin.view_contact"],
    "none": [],
}


def user_with(perms):
    if perms is None:
        return make_user(is_superuser=True)
    return make_user(perms=perms)


def test_dashboard_query_count_is_flat(client):
    users = {name: user_with(perms) for name, perms in PERMISSIONS.items()}
    today = timezone.localdate()
    Stage.objects.filter(name="Negotiation").update(stale_after_days=30)
    make_deal(owner=users["superuser"], next_step="Call", next_step_due=today)
    make_contact(owner=users["superuser"], next_step="Visit", next_step_due=today)

    def counts() -> dict[str, int]:
        result = {}
        for name, user in users.items():
            client.force_login(user)
            result[name] = _dashboard_queries(client)
        return result

    small = counts()
    contact = make_contact()
    # Next steps overdue, due today, this week, later, undated and none, for My day.
    steps = [(f"Step {i}", today + timedelta(days=i % 12 - 4)) for i in range(250)]
    steps += [("Undated", None)] * 25 + [("", None)] * 25
    Deal.objects.bulk_create(
        Deal(
            title=f"D{i}",
            contact=contact,
            stage=stage("Negotiation"),
            amount=Decimal(i),
            owner=users["superuser"],
            expected_close_date=TODAY + timedelta(days=i),
            next_step=step,
            next_step_due=due,
        )
        for i, (step, due) in enumerate(steps)
    )
    for step, due in steps[:40]:
        make_contact(owner=users["superuser"], next_step=step, next_step_due=due)
    make_contact()
    # Stage history and stale deals, which the dashboard itself does not read.
    services.deals_move_to_stage(
        deals=Deal.objects.filter(amount__lt=100), stage=stage("Prospecting")
    )
    services.deals_move_to_stage(
        deals=Deal.objects.filter(amount__lt=50), stage=stage("Negotiation")
    )
    services.deals_mark_won(deals=Deal.objects.filter(amount__lt=20))
    services.deals_mark_lost(
        deals=Deal.objects.filter(amount__gte=20, amount__lt=40), lost_reason=lost_reason()
    )
    Deal.objects.filter(amount__gte=200).update(
        stage_entered_at=timezone.now() - timedelta(days=40)
    )
    assert counts() == small
    # The deal parts run eight queries (My day's three), the contact parts five (My day's
    # two); a user without them runs none.
    assert small["deals and contacts"] - small["deals"] == 5
    assert small["deals and contacts"] - small["contacts"] == 8
    assert small["deals and contacts"] - small["none"] == 13


def _crm_tables_read(client) -> set[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {
        table
        for table in ("crm_admin_deal", "crm_admin_contact", "crm_admin_dealstagechange")
        for query in captured
        if f'FROM "{table}"' in query["sql"]
    }


def test_staff_without_crm_permissions_sees_a_note_and_nothing_is_read(client, pipeline):
    make_contact(first_name="Hidden", last_name="Person")
    client.force_login(make_user())
    assert _crm_tables_read(client) == set()
    page = client.get(reverse("admin:index")).content.decode()
    assert "Ask an administrator for access" in page
    for hidden in ("Open pipeline", "USD", "Follow-ups due", "Hidden Person", "Pipeline value"):
        assert hidden not in page


def test_a_contact_viewer_sees_follow_ups_but_no_deal_figures(client, pipeline):
    make_contact(first_name="Due", last_name="Person")
    make_deal(title="Secret deal", amount=Decimal("123456.78"))
    client.force_login(make_user(perms=PERMISSIONS["contacts"]))
    assert _crm_tables_read(client) == {"crm_admin_contact"}
    page = client.get(reverse("admin:index")).content.decode()
    assert "Follow-ups due" in page and "Due Person" in page
    hidden = ("Open pipeline", "USD", "Secret deal", "Pipeline value", "Ask an admin")
    hidden += ("Stale deals", "Pipeline velocity", "dashboard-history", "history-figures/")
    for text in hidden:
        assert text not in page


def test_a_deal_viewer_sees_pipeline_figures_but_no_follow_ups(client, pipeline):
    make_contact(first_name="Due", last_name="Person")
    user = make_user(perms=PERMISSIONS["deals"])
    make_deal(title="Mine soon", owner=user, expected_close_date=TODAY)
    client.force_login(user)
    # The deal list joins contacts; no query reads from the contact table itself, nor from
    # the stage history, whose section loads on its own.
    assert _crm_tables_read(client) == {"crm_admin_deal"}
    page = client.get(reverse("admin:index")).content.decode()
    assert "Open pipeline" in page and "Mine soon" in page and "Pipeline value by stage" in page
    for hidden in ("Follow-ups due", "Due Person", "Ask an admin"):
        assert hidden not in page


def test_won_this_month_links_to_exactly_the_deals_it_counts(staff_client, settings):
    # A zone ahead of UTC: the month begins on the previous UTC day, with a "+" offset.
    settings.TIME_ZONE = "Pacific/Auckland"
    month_start = selectors.current_month_start()
    this_month = [make_deal(stage=stage("Closed-Won")) for _ in range(2)]
    closed(this_month[0], month_start)
    earlier = make_deal(stage=stage("Closed-Won"))
    closed(earlier, month_start - timedelta(minutes=1))
    lost = make_deal(stage=stage("Closed-Lost"))
    closed(lost, month_start + timedelta(minutes=1))
    make_deal()
    response = staff_client.get(reverse("admin:index"))
    kpi = next(kpi for kpi in response.context["kpis"] if kpi["title"] == "Won this month")
    assert kpi["detail"] == "2 deals"
    listed = staff_client.get(kpi["href"])
    assert listed.status_code == 200
    assert {deal.pk for deal in listed.context["cl"].result_list} == {d.pk for d in this_month}


def test_follow_ups_follow_the_setting_and_link_to_the_counted_contacts(staff_client, settings):
    settings.CRM_FOLLOW_UP_DAYS = 10
    now = timezone.now()
    due = [
        make_contact(last_contacted_at=None),
        make_contact(last_contacted_at=now - timedelta(days=11)),
        make_contact(last_contacted_at=now - timedelta(days=45)),
    ]
    make_contact(last_contacted_at=now - timedelta(days=9))
    response = staff_client.get(reverse("admin:index"))
    kpi = next(kpi for kpi in response.context["kpis"] if kpi["title"] == "Follow-ups due")
    assert kpi["value"] == "3"
    assert kpi["detail"] == "next step due, or none and not contacted for 10 days"
    assert {contact.pk for contact in response.context["follow_ups"]} == {c.pk for c in due}
    for url in (kpi["href"], response.context["follow_ups_url"]):
        listed = staff_client.get(url)
        assert {contact.pk for contact in listed.context["cl"].result_list} == {c.pk for c in due}


def test_the_stage_history_section_loads_on_its_own(staff_client):
    Stage.objects.filter(name="Prospecting").update(stale_after_days=7)
    journey(("Prospecting", timezone.now() - timedelta(days=8)))
    response = staff_client.get(reverse("admin:index"))
    url = reverse("admin:crm_admin_deal_history_figures")
    assert response.context["history_url"] == url
    assert "Stale deals" not in [kpi["title"] for kpi in response.context["kpis"]]
    assert "velocity" not in response.context and "stale" not in response.context
    page = response.content.decode()
    assert f'id="dashboard-history" hx-get="{url}" hx-trigger="load"' in page
    # The link for browsers without JavaScript; the figures themselves are not in the page.
    assert f'href="{url}"' in page
    for figure in ('id="pipeline-velocity"', 'id="lost-by-reason"', "?stale=yes"):
        assert figure not in page
