"""The dashboard's My day: the logged-in user's next steps due now and this week, the counts
linking to the lists that show those rows, and the parts a user may not see left unread."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin.models import NextStepDue
from tests.factories import make_contact, make_deal, make_user, stage

pytestmark = pytest.mark.django_db

VIEW_BOTH = ["crm_admin.view_deal", "crm_admin.view_contact"]
# An instant and the date it is in each zone: the last day of November in UTC, already the
# first of December in Auckland; the first of December in UTC, still November 30 in Los Angeles.
ZONES = [
    ("UTC", datetime(2026, 11, 30, 11, 30, tzinfo=UTC), date(2026, 11, 30)),
    ("Pacific/Auckland", datetime(2026, 11, 30, 11, 30, tzinfo=UTC), date(2026, 12, 1)),
    ("America/Los_Angeles", datetime(2026, 12, 1, 5, 0, tzinfo=UTC), date(2026, 11, 30)),
]


@pytest.fixture
def clock(monkeypatch):
    """Stop Django's clock at an instant (every `timezone.now()`, and so `localdate()`)."""

    def stop_at(instant: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: instant)

    return stop_at


def days(today: date, n: int) -> date:
    return today + timedelta(days=n)


def dashboard(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response


def table(response, table_id: str) -> str:
    """The HTML of one table of the page."""
    page = response.content.decode()
    match = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert match, f"no table {table_id}"
    return match.group(0)


def names(rows) -> list[str]:
    return [row["name"] for row in rows]


def counts_of(response) -> list[dict]:
    return response.context["my_day_counts"]


@pytest.mark.parametrize(("zone", "instant", "today"), ZONES)
def test_my_day_lists_due_steps_then_this_weeks_in_the_users_time_zone(
    client, settings, clock, zone, instant, today
):
    settings.TIME_ZONE = zone
    clock(instant)
    rep = make_user(perms=VIEW_BOTH)
    acme = make_contact(first_name="Ada", last_name="Acme")
    late = make_deal(
        title="Late deal",
        owner=rep,
        contact=acme,
        next_step="Send quote",
        next_step_due=days(today, -1),
    )
    due_today = make_contact(
        first_name="Tess", last_name="Today", owner=rep, next_step="Call Tess", next_step_due=today
    )
    week_end = make_deal(
        title="Week deal", owner=rep, next_step="Book demo", next_step_due=days(today, 7)
    )
    make_deal(title="Later deal", owner=rep, next_step="Renew", next_step_due=days(today, 8))
    make_contact(first_name="Una", last_name="Dated", owner=rep, next_step="Someday")
    client.force_login(rep)

    response = dashboard(client)

    assert names(response.context["my_day_now"]) == ["Late deal", "Tess Today"]
    assert names(response.context["my_day_week"]) == ["Week deal"]
    late_row, today_row = response.context["my_day_now"]
    assert (late_row["due"], late_row["overdue"], late_row["step"]) == (
        days(today, -1),
        True,
        "Send quote",
    )
    assert late_row["context"] == "Ada Acme"  # the deal's contact (no company)
    assert (today_row["due"], today_row["overdue"]) == (today, False)
    now_html = table(response, "my-day-now")
    # Each row links to its record; the overdue one says so in words, not only in colour.
    assert reverse("admin:crm_admin_deal_change", args=[late.pk]) in now_html
    assert reverse("admin:crm_admin_contact_change", args=[due_today.pk]) in now_html
    late_html, today_html = re.findall(r"<tr class=.*?</tr>", now_html, re.S)
    assert "Send quote" in late_html and "Overdue" in late_html
    assert "Call Tess" in today_html and "Overdue" not in today_html
    week_html = table(response, "my-day-week")
    assert reverse("admin:crm_admin_deal_change", args=[week_end.pk]) in week_html
    for hidden in ("Renew", "Someday"):
        assert hidden not in response.content.decode()
    counts = {row["title"]: [cell["value"] for cell in row["cells"]] for row in counts_of(response)}
    assert counts == {"My deals": ["1", "0", "1"], "My contacts": ["0", "1", "0"]}


def test_my_day_never_shows_another_reps_records(client, clock):
    clock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    today = date(2026, 11, 30)
    rep, other = make_user(perms=VIEW_BOTH), make_user(perms=VIEW_BOTH)
    make_deal(title="Mine", owner=rep, next_step="My call", next_step_due=today)
    make_deal(
        title="Theirs", owner=other, next_step="Their overdue call", next_step_due=days(today, -3)
    )
    make_deal(title="Nobody's", next_step="Unowned call", next_step_due=days(today, -3))
    make_deal(title="Their empty", owner=other)  # open, no step: not counted for rep
    make_contact(owner=other, next_step="Their lunch", next_step_due=days(today, 2))
    client.force_login(rep)

    response = dashboard(client)

    assert names(response.context["my_day_now"]) == ["Mine"]
    assert response.context["my_day_week"] == []
    page = response.content.decode()
    for hidden in ("Their overdue call", "Unowned call", "Their lunch"):
        assert hidden not in page
    deal_counts, contact_counts = counts_of(response)
    assert [cell["value"] for cell in deal_counts["cells"]] == ["0", "1", "0"]
    assert [cell["value"] for cell in contact_counts["cells"]] == ["0", "0", "0"]
    assert response.context["my_day_no_step"]["value"] == "0"


def _listed(client, url: str) -> set[int]:
    response = client.get(url)
    # A list answers a parameter no filter of its declares with a redirect to ?e=1.
    assert response.status_code == 200, f"{url} -> {response.get('Location')}"
    return {row.pk for row in response.context["cl"].result_list}


def test_my_day_counts_link_to_lists_showing_exactly_those_rows(client, clock):
    # Needs the lists' `next_step` filter (deals and contacts) and the contacts' owner filter.
    clock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    today = date(2026, 11, 30)
    rep, other = make_user(perms=VIEW_BOTH), make_user()
    offsets = {NextStepDue.OVERDUE: -2, NextStepDue.TODAY: 0, NextStepDue.THIS_WEEK: 3}
    mine = {"deal": {}, "contact": {}}
    for due, offset in offsets.items():
        step = {"next_step": f"Step {due}", "next_step_due": days(today, offset)}
        mine["deal"][due] = {make_deal(owner=rep, **step).pk, make_deal(owner=rep, **step).pk}
        mine["contact"][due] = {make_contact(owner=rep, **step).pk}
        make_deal(owner=other, **step)
        make_contact(owner=other, **step)
    mine["deal"][NextStepDue.NONE] = {make_deal(owner=rep).pk}
    make_deal(owner=rep, stage=stage("Closed-Won"))  # closed: no step, not "without one"
    make_deal(owner=other)
    make_deal(owner=rep, next_step="Undated")
    client.force_login(rep)

    response = dashboard(client)

    links = [
        (kind, cell)
        for kind, row in zip(("deal", "contact"), counts_of(response), strict=True)
        for cell in row["cells"]
    ]
    links.append(("deal", response.context["my_day_no_step"]))
    assert len(links) == 7
    for kind, cell in links:
        expected = mine[kind][cell["due"]]
        assert cell["value"] == str(len(expected)), (kind, cell["due"])
        assert _listed(client, cell["href"]) == expected, (kind, cell["due"])
    assert response.context["my_day_no_step"]["href"].endswith(
        "?next_step=none&owner=mine&status=open"
    )


def test_open_deals_without_a_step_are_counted_up_to_the_limit(client, settings):
    settings.CRM_EXACT_COUNT_LIMIT = 2
    rep = make_user(perms=VIEW_BOTH)
    for _ in range(3):
        make_deal(owner=rep)
    client.force_login(rep)
    assert dashboard(client).context["my_day_no_step"]["value"] == "more than 2"
    settings.CRM_EXACT_COUNT_LIMIT = 3
    assert dashboard(client).context["my_day_no_step"]["value"] == "3"


def _tables_read(client):
    """The dashboard's response and the CRM tables its queries read from."""
    with CaptureQueriesContext(connection) as captured:
        response = dashboard(client)
    return response, {
        table
        for table in ("crm_admin_deal", "crm_admin_contact")
        for query in captured
        if f'FROM "{table}"' in query["sql"]
    }


def test_a_my_day_part_the_user_may_not_see_runs_no_query(client):
    today = timezone.localdate()
    deal_viewer = make_user(perms=["crm_admin.view_deal"])
    contact_viewer = make_user(perms=["crm_admin.view_contact"])
    nobody = make_user()
    for user in (deal_viewer, contact_viewer, nobody):
        make_deal(owner=user, title=f"Deal of {user}", next_step="Deal step", next_step_due=today)
        make_contact(owner=user, next_step="Contact step", next_step_due=today)

    client.force_login(deal_viewer)
    response, tables = _tables_read(client)
    assert tables == {"crm_admin_deal"}
    assert [row["title"] for row in counts_of(response)] == ["My deals"]
    assert names(response.context["my_day_now"]) == [f"Deal of {deal_viewer}"]
    assert "Contact step" not in response.content.decode()

    client.force_login(contact_viewer)
    response, tables = _tables_read(client)
    assert tables == {"crm_admin_contact"}
    assert [row["title"] for row in counts_of(response)] == ["My contacts"]
    assert [row["kind"] for row in response.context["my_day_now"]] == ["Contact"]
    assert "my_day_no_step" not in response.context
    page = response.content.decode()
    assert "Deal step" not in page and "without a next step" not in page

    client.force_login(nobody)
    response, tables = _tables_read(client)
    assert tables == set()
    assert "my_day_now" not in response.context
    assert 'id="my-day"' not in response.content.decode()


def test_follow_ups_show_the_contacts_next_step_and_date(staff_client, clock):
    clock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    make_contact(
        first_name="Olga",
        last_name="Late",
        next_step="Send brochure",
        next_step_due=date(2026, 11, 27),
        last_contacted_at=timezone.now(),
    )
    make_contact(first_name="Nils", last_name="Never")
    response = dashboard(staff_client)
    late, never = re.findall(r"<tr class=.*?</tr>", table(response, "follow-ups"), re.S)
    assert "Olga Late" in late and "Send brochure" in late and "11/27/2026" in late
    assert "Overdue" in late
    assert "Nils Never" in never and "Send brochure" not in never and "Overdue" not in never
