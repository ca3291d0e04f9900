"""Deal visibility "own" on the dashboard (issue 14): a rep's figures, charts and lists, and
the stage history section, are those of the rep's deals alone (worked out by hand below),
on PostgreSQL too, where the manager's come from the running totals that count every deal;
the manager's are the team's totals; the history section's cache keeps each scope apart;
query counts do not grow with the data."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import selectors, services
from crm_admin.dashboard import HISTORY_CACHE_KEY, history_cache_key
from crm_admin.models import Deal, Stage
from tests.factories import lost_reason, make_deal, make_user_in, stage
from tests.test_pipeline_history import journey

pytestmark = pytest.mark.django_db

HISTORY = reverse("admin:crm_admin_deal_history_figures")


@pytest.fixture
def own(settings):
    settings.CRM_DEAL_VISIBILITY = "own"


@pytest.fixture
def people(own):
    return {
        "rep": make_user_in("Sales rep"),
        "other": make_user_in("Sales rep"),
        "manager": make_user_in("Sales manager"),
    }


def closed_at(deal, when):
    Deal.objects.filter(pk=deal.pk).update(closed_at=when)


@pytest.fixture
def pipeline(people):
    """Open, won and lost deals of two reps and of nobody, whose figures the tests work out
    by hand. Closed deals close at the start of this month: in this month, in the win rate's
    90 days and in the won/lost chart's last month."""
    rep, other = people["rep"], people["other"]
    today = timezone.localdate()
    later = selectors.month_start(today, 2)
    month = selectors.current_month_start()
    prospecting, negotiation = stage("Prospecting"), stage("Negotiation")
    deals = {
        "rep_soon": make_deal(
            owner=rep,
            stage=prospecting,
            amount=Decimal("1000.00"),
            probability=10,
            expected_close_date=today,
            next_step="Call the rep's client",
            next_step_due=today,
        ),
        "rep_later": make_deal(
            owner=rep,
            stage=negotiation,
            amount=Decimal("2500.50"),
            probability=50,
            expected_close_date=later,
        ),
        "other_soon": make_deal(
            owner=other,
            stage=negotiation,
            amount=Decimal("7777.77"),
            probability=90,
            expected_close_date=today,
            next_step="Call the other's client",
            next_step_due=today,
        ),
        "nobodys": make_deal(stage=prospecting, amount=Decimal("123.45"), probability=20),
    }
    for key, owner, name, amount in (
        ("rep_won", rep, "Closed-Won", "4000.00"),
        ("rep_lost", rep, "Closed-Lost", "500.00"),
        ("other_won", other, "Closed-Won", "9000.00"),
    ):
        deals[key] = make_deal(owner=owner, stage=stage(name), amount=Decimal(amount))
        closed_at(deals[key], month)
    return deals


def dashboard(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.context


def kpis(context) -> dict[str, tuple[str, str]]:
    """The deal KPIs; follow-ups count contacts, which every user shares."""
    return {
        str(k["title"]): (k["value"], str(k.get("detail", "")))
        for k in context["kpis"]
        if k["title"] != "Follow-ups due"
    }


def chart(context, name) -> list[list[float]]:
    return [dataset["data"] for dataset in json.loads(context[name])["datasets"]]


def test_a_reps_dashboard_figures_are_the_sums_of_their_deals_alone(client, people, pipeline):
    context = dashboard(client, people["rep"])
    assert kpis(context) == {
        "Open pipeline": ("USD 3,500.50", ""),  # 1000 + 2500.50
        "Weighted forecast": ("USD 1,350.25", ""),  # 1000 x 10% + 2500.50 x 50%
        "Won this month": ("USD 4,000.00", "1 deals"),
        "Win rate, last 90 days": ("50%", "of 2 closed deals"),  # one won, one lost
    }
    assert chart(context, "stage_chart") == [[1000.0, 2500.5]]  # Prospecting, Negotiation
    assert chart(context, "forecast_chart") == [[100.0, 0.0, 1250.25, 0.0, 0.0, 0.0]]
    assert chart(context, "won_lost_chart") == [[0.0] * 5 + [1.0], [0.0] * 5 + [1.0]]
    assert [deal.pk for deal in context["closing_soon"]] == [
        pipeline["rep_soon"].pk,
        pipeline["rep_later"].pk,
    ]
    assert [row["name"] for row in context["my_day_now"]] == [pipeline["rep_soon"].title]


def test_the_managers_dashboard_figures_are_the_teams_totals(client, people, pipeline):
    context = dashboard(client, people["manager"])
    assert kpis(context) == {
        "Open pipeline": ("USD 11,401.72", ""),  # 1000 + 2500.50 + 7777.77 + 123.45
        # (1000 x 10 + 2500.50 x 50 + 7777.77 x 90 + 123.45 x 20) / 100 = 8374.933
        "Weighted forecast": ("USD 8,374.93", ""),
        "Won this month": ("USD 13,000.00", "2 deals"),
        "Win rate, last 90 days": ("67%", "of 3 closed deals"),
    }
    assert chart(context, "stage_chart") == [[1123.45, 10278.27]]
    # This month: 100 + 6999.993; the deal of nobody has no expected close date.
    assert chart(context, "forecast_chart") == [[7099.99, 0.0, 1250.25, 0.0, 0.0, 0.0]]
    assert chart(context, "won_lost_chart") == [[0.0] * 5 + [2.0], [0.0] * 5 + [1.0]]
    # Their own lists stay theirs: the manager owns no deal.
    assert list(context["closing_soon"]) == [] and context["my_day_now"] == []
    # What the selectors give over every deal (the running totals on PostgreSQL).
    everything = selectors.pipeline_figures()
    assert kpis(context)["Open pipeline"][0] == f"USD {everything.open_value:,}"


def test_the_other_reps_dashboard_shows_theirs(client, people, pipeline):
    context = dashboard(client, people["other"])
    assert kpis(context)["Open pipeline"] == ("USD 7,777.77", "")
    assert kpis(context)["Won this month"] == ("USD 9,000.00", "1 deals")
    assert kpis(context)["Win rate, last 90 days"] == ("100%", "of 1 closed deals")
    assert chart(context, "stage_chart") == [[0.0, 7777.77]]


def test_the_selectors_count_every_deal_without_a_user(people, pipeline):
    # The dashboard passes its user; the board and other callers that pass none still get
    # every deal (the running totals on PostgreSQL).
    assert selectors.pipeline_figures().open_value == Decimal("11401.72")
    assert selectors.pipeline_figures(user=people["rep"]).open_value == Decimal("3500.50")


@pytest.fixture
def history(people):
    """Stage history of two reps (days before now), worked out by hand in the tests."""
    rep, other = people["rep"], people["other"]
    now = timezone.now()

    def ago(days):
        return now - timedelta(days=days)

    Stage.objects.filter(name="Prospecting").update(stale_after_days=14)
    Stage.objects.filter(name="Negotiation").update(stale_after_days=40)
    # The rep's: 10 and 7 days in Prospecting; one moved on, one lost; one stale.
    journey(("Prospecting", ago(30)), ("Negotiation", ago(20)), owner=rep)
    journey(
        ("Prospecting", ago(9)),
        ("Closed-Lost", ago(2)),
        reason=lost_reason("Competitor"),
        amount=Decimal("2500.00"),
        owner=rep,
    )
    journey(("Negotiation", ago(50)), owner=rep)  # stale
    # The other rep's: 5 and 20 days in Prospecting, 30 in Negotiation, then won; one stale.
    journey(("Prospecting", ago(40)), ("Negotiation", ago(35)), ("Closed-Won", ago(5)), owner=other)
    journey(("Prospecting", ago(15)), owner=other)  # stale
    journey(
        ("Prospecting", ago(21)),
        ("Closed-Lost", ago(1)),
        reason=lost_reason("Price"),
        amount=Decimal("999.00"),
        owner=other,
    )


def history_section(client, user):
    client.force_login(user)
    response = client.get(HISTORY, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.context


def velocity(context) -> list[tuple]:
    return [
        (row["stage"], row["left"], row["average_days"], row["conversion_detail"])
        for row in context["velocity"]
    ]


def lost(context) -> list[tuple]:
    return sorted((row["name"], row["count"], row["value"]) for row in context["lost_reasons"])


def test_a_reps_history_figures_are_over_their_deals_alone(client, people, history):
    context = history_section(client, people["rep"])
    assert velocity(context) == [
        ("Prospecting", "2", "8.5", "1 of 2"),  # (10 + 7) / 2
        ("Negotiation", "0", "-", "0 of 2"),
    ]
    assert lost(context) == [("Competitor", "1", "USD 2,500.00")]
    assert json.loads(context["lost_reason_chart"])["labels"] == ["Competitor"]
    assert context["stale"]["value"] == "1"


def test_the_managers_history_figures_are_over_every_deal(client, people, history):
    context = history_section(client, people["manager"])
    assert velocity(context) == [
        ("Prospecting", "4", "10.5", "2 of 5"),  # (10 + 7 + 5 + 20) / 4
        ("Negotiation", "1", "30.0", "1 of 3"),
    ]
    assert lost(context) == [
        ("Competitor", "1", "USD 2,500.00"),
        ("Price", "1", "USD 999.00"),
    ]
    assert context["stale"]["value"] == "2"


def test_the_history_cache_keeps_each_scope_apart(client, people, history, settings):
    settings.CRM_HISTORY_CACHE_SECONDS = 300
    rep, other, manager = people["rep"], people["other"], people["manager"]
    assert history_section(client, rep)["stale"]["value"] == "1"
    # Read after the rep's, neither the manager nor the other rep gets the rep's figures.
    assert history_section(client, manager)["stale"]["value"] == "2"
    assert history_section(client, other)["stale"]["value"] == "1"
    assert velocity(history_section(client, other))[0] == ("Prospecting", "2", "12.5", "1 of 3")
    keys = {history_cache_key(user) for user in (rep, other, manager)}
    assert len(keys) == 3 and history_cache_key(manager) == HISTORY_CACHE_KEY
    # Every user who sees all deals shares the one entry.
    assert history_cache_key(make_user_in("Sales manager")) == HISTORY_CACHE_KEY
    # Once cached, the rep's section reads no deal and no history.
    client.force_login(rep)
    with CaptureQueriesContext(connection) as captured:
        client.get(HISTORY, headers={"HX-Request": "true"})
    assert not any("crm_admin_deal" in query["sql"] for query in captured)


def _queries(client, user, url, **headers) -> int:
    client.force_login(user)
    client.get(url, headers=headers)  # warm-up: per-process caches, session save
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, headers=headers).status_code == 200
    return len(captured)


def test_a_reps_dashboard_and_history_query_counts_are_flat(client, people, settings):
    settings.CRM_HISTORY_CACHE_SECONDS = 0  # every view reads the figures
    Stage.objects.filter(name="Negotiation").update(stale_after_days=30)
    users = (people["rep"], people["manager"])

    def counts():
        return [
            _queries(client, user, url, **headers)
            for user in users
            for url, headers in (
                (reverse("admin:index"), {}),
                (HISTORY, {"HX-Request": "true"}),
            )
        ]

    make_deal(owner=people["rep"], next_step="Call", next_step_due=timezone.localdate())
    small = counts()
    for owner in (people["rep"], people["other"]):
        for i in range(30):
            make_deal(
                owner=owner,
                amount=Decimal(i),
                expected_close_date=timezone.localdate() + timedelta(days=i),
                next_step=f"Step {i}",
                next_step_due=timezone.localdate() + timedelta(days=i % 10 - 3),
            )
        mine = Deal.objects.filter(owner=owner)
        services.deals_move_to_stage(deals=mine.filter(amount__lt=20), stage=stage("Negotiation"))
        services.deals_mark_won(deals=mine.filter(amount__lt=5))
        services.deals_mark_lost(
            deals=mine.filter(amount__gte=5, amount__lt=10), lost_reason=lost_reason()
        )
        mine.filter(amount__gte=20).update(stage_entered_at=timezone.now() - timedelta(days=40))
    assert counts() == small
    # The rep's pages cost what the manager's do: the rule adds no query.
    rep_index, rep_history, manager_index, manager_history = small
    assert (rep_index, rep_history) == (manager_index, manager_history)
