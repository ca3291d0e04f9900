"""The dashboard's stage history section on its own URL (crm_admin/admin/history_figures.py):
its figures against hand-computed values, who may see it, the section for htmx and the page
without it, and a constant number of queries."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from crm_admin.deal_history import LostReason
from crm_admin.models import Stage
from tests.factories import lost_reason, make_deal, make_user
from tests.test_dashboard import PERMISSIONS, user_with
from tests.test_pipeline_history import add_history, journey

pytestmark = pytest.mark.django_db

URL = reverse("admin:crm_admin_deal_history_figures")


def section(client):
    """The section as the dashboard's htmx request asks for it."""
    response = client.get(URL, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response


def test_the_stage_history_figures_match_hand_computed_values(staff_client):
    now = timezone.now()

    def ago(days):
        return now - timedelta(days=days)

    Stage.objects.filter(name="Prospecting").update(stale_after_days=14)
    journey(("Prospecting", ago(30)), ("Negotiation", ago(20)), ("Closed-Won", ago(5)))
    journey(("Prospecting", ago(40)), ("Negotiation", ago(10)))
    journey(("Prospecting", ago(15)))  # stale
    journey(("Prospecting", ago(3)))
    journey(
        ("Prospecting", ago(9)),
        ("Closed-Lost", ago(2)),
        reason=lost_reason("Competitor"),
        amount=Decimal("2500.00"),
    )
    journey(("Prospecting", ago(200)), ("Closed-Lost", ago(100)), reason=lost_reason())

    response = section(staff_client)
    assert response.context["velocity"] == [
        # Stays of 10, 30 and 7 days; of five deals entering, two moved on.
        {
            "stage": "Prospecting",
            "left": "3",
            "average_days": "15.7",
            "conversion": "40%",
            "conversion_detail": "2 of 5",
        },
        # One stay of 15 days; of two deals entering, one won.
        {
            "stage": "Negotiation",
            "left": "1",
            "average_days": "15.0",
            "conversion": "50%",
            "conversion_detail": "1 of 2",
        },
    ]
    assert response.context["lost_reasons"] == [
        {"name": "Competitor", "count": "1", "value": "USD 2,500.00"}
    ]
    chart = json.loads(response.context["lost_reason_chart"])
    assert chart["labels"] == ["Competitor"] and chart["datasets"][0]["data"] == [1.0]
    stale = response.context["stale"]
    assert stale["value"] == "1"
    assert stale["href"] == reverse("admin:crm_admin_deal_changelist") + "?stale=yes"
    page = response.content.decode()
    for text in ("Pipeline velocity, last 90 days", "Lost by reason, last 90 days", "15.7"):
        assert text in page
    assert 'id="pipeline-velocity"' in page and 'id="lost-by-reason"' in page


def test_the_history_figures_say_when_there_is_nothing_to_show(staff_client):
    response = section(staff_client)
    assert [
        (row["stage"], row["left"], row["average_days"], row["conversion"])
        for row in response.context["velocity"]
    ] == [
        ("Prospecting", "0", "-", "-"),
        ("Negotiation", "0", "-", "-"),
    ]
    stale = response.context["stale"]
    assert (stale["value"], str(stale["detail"])) == (
        "0",
        "no stage has a limit yet: set one on the pipeline stages",
    )
    page = response.content.decode()
    assert "No deal was lost in these days." in page


def test_a_reopened_deal_shows_its_closed_stage_in_the_velocity_table(staff_client):
    now = timezone.now()
    journey(
        ("Prospecting", now - timedelta(days=9)),
        ("Closed-Won", now - timedelta(days=8)),
        ("Negotiation", now - timedelta(days=2)),
    )
    rows = section(staff_client).context["velocity"]
    assert [
        (row["stage"], row["left"], row["average_days"], row["conversion"]) for row in rows
    ] == [
        ("Prospecting", "1", "1.0", "100%"),
        ("Negotiation", "0", "-", "0%"),
        ("Closed-Won", "1", "6.0", "-"),
    ]


def test_the_stale_count_links_to_exactly_the_deals_it_counts(staff_client):
    now = timezone.now()
    Stage.objects.filter(name="Prospecting").update(stale_after_days=7)
    Stage.objects.filter(name="Negotiation").update(stale_after_days=30)
    stale = [
        journey(("Prospecting", now - timedelta(days=8))),
        journey(
            ("Prospecting", now - timedelta(days=90)), ("Negotiation", now - timedelta(days=31))
        ),
    ]
    journey(("Prospecting", now - timedelta(days=6)))
    journey(("Prospecting", now - timedelta(days=90)), ("Negotiation", now - timedelta(days=29)))
    journey(("Prospecting", now - timedelta(days=90)), ("Closed-Won", now - timedelta(days=80)))
    response = section(staff_client)
    kpi = response.context["stale"]
    assert (kpi["value"], str(kpi["detail"])) == (
        "2",
        "open deals in their stage for longer than its limit",
    )
    listed = staff_client.get(kpi["href"])
    assert listed.status_code == 200
    assert {deal.pk for deal in listed.context["cl"].result_list} == {deal.pk for deal in stale}


def test_for_htmx_it_is_the_section_alone(staff_client):
    response = section(staff_client)
    page = response.content.decode()
    assert page.lstrip().startswith('<div class="flex flex-col gap-4" id="history-figures">')
    assert "<html" not in page and "Pipeline velocity, last 90 days" in page
    assert "HX-Request" in response.headers["Vary"]


def test_without_htmx_it_is_an_admin_page_with_the_same_figures(staff_client):
    Stage.objects.filter(name="Prospecting").update(stale_after_days=7)
    journey(("Prospecting", timezone.now() - timedelta(days=8)))
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert response.context["title"] == "Pipeline history"
    assert response.context["stale"]["value"] == "1"
    page = response.content.decode()
    assert page.lstrip().startswith("<!DOCTYPE html>")
    assert "<title> Pipeline history |" in page
    assert 'id="history-figures"' in page and 'id="pipeline-velocity"' in page
    assert f'href="{reverse("admin:index")}"' in page
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize(
    "perms",
    [*PERMISSIONS.values(), ["crm_admin.change_deal"]],
    ids=[*PERMISSIONS, "change deals"],
)
def test_it_shows_to_whom_the_dashboard_shows_deal_figures_and_refuses_others(client, perms):
    client.force_login(user_with(perms))
    shows_deals = client.get(reverse("admin:index")).context["show_deals"]
    for headers in ({"HX-Request": "true"}, {}):
        response = client.get(URL, headers=headers)
        assert response.status_code == (200 if shows_deals else 403)


def test_the_section_is_refused_to_a_user_without_deal_view_permission(client):
    client.force_login(make_user(perms=["crm_admin.view_contact", "crm_admin.view_stage"]))
    assert client.get(URL, headers={"HX-Request": "true"}).status_code == 403
    assert client.get(URL).status_code == 403


def test_anonymous_and_non_staff_users_are_sent_to_the_login_page(client):
    login = reverse("admin:login")
    response = client.get(URL)
    assert (response.status_code, response.url) == (302, f"{login}?next={URL}")
    client.force_login(make_user(staff=False, perms=["crm_admin.view_deal"]))
    response = client.get(URL, headers={"HX-Request": "true"})
    assert (response.status_code, response.url) == (302, f"{login}?next={URL}")


def test_the_section_runs_the_same_queries_whatever_the_history_size(
    staff_client, django_assert_num_queries
):
    # The session and the user, then the section's five: the stages, velocity, conversion,
    # lost by reason and the stale count.
    add_history(2)
    with django_assert_num_queries(7):
        section(staff_client)
    add_history(30)
    make_deal(stage=Stage.objects.get(name="Negotiation"))
    cache.clear()  # read again, not from the cache (test_the_figures_are_read_again_...)
    with django_assert_num_queries(7):
        section(staff_client)


def test_the_figures_are_read_again_only_once_the_cache_time_is_over(
    staff_client, settings, django_assert_num_queries
):
    add_history(2)
    first = section(staff_client).content.decode()
    reason = LostReason.objects.create(name="Zu spät entschieden")
    make_deal(stage=Stage.objects.get(name="Closed-Lost"), lost_reason=reason)
    # Within CRM_HISTORY_CACHE_SECONDS: the session and the user only, the same figures.
    with django_assert_num_queries(2):
        again = section(staff_client).content.decode()
    assert again == first
    assert "Figures as of" in again and "read again after 5 minutes" in again
    assert "Zu spät entschieden" not in again
    settings.CRM_HISTORY_CACHE_SECONDS = 0  # no cache: every view reads them
    with django_assert_num_queries(7):
        fresh = section(staff_client).content.decode()
    assert "Zu spät entschieden" in fresh
    assert "read again after" not in fresh


def test_without_a_stale_limit_the_section_runs_no_count(staff_client, django_assert_num_queries):
    with django_assert_num_queries(6):
        section(staff_client)
