"""The pipeline board and its move endpoint."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.models import Deal, Stage
from tests.factories import lost_reason, make_contact, make_deal, make_tag, make_user, stage

pytestmark = pytest.mark.django_db

BOARD = reverse("admin:crm_admin_deal_board")


def move_url(deal) -> str:
    return reverse("admin:crm_admin_deal_move", args=[deal.pk])


def board_columns(client, **params):
    response = client.get(BOARD, params)
    assert response.status_code == 200
    return {column.stage.name: column for column in response.context["columns"]}


def test_board_has_a_column_per_stage_with_totals(staff_client):
    make_deal(stage=stage("Negotiation"), amount=Decimal("1000.00"), probability=40)
    make_deal(stage=stage("Negotiation"), amount=Decimal("250.50"), probability=50)
    make_deal(stage=stage("Closed-Won"), amount=Decimal("99.99"))
    columns = board_columns(staff_client)
    assert list(columns) == ["Prospecting", "Negotiation", "Closed-Won", "Closed-Lost"]
    negotiation = columns["Negotiation"]
    assert (negotiation.count, negotiation.value, negotiation.weighted) == (
        2,
        Decimal("1250.50"),
        Decimal("525.25"),  # 400 + 125.25
    )
    assert columns["Prospecting"].count == 0
    page = staff_client.get(BOARD).content.decode()
    assert "USD 1,250.50" in page and "USD 525.25" in page


def test_the_deal_list_filters_apply_to_the_board(staff_client, admin_user):
    vip = make_tag(name="VIP")
    mine = make_deal(owner=admin_user, title="Mine")
    make_deal(owner=make_user(), title="Theirs")
    tagged = make_deal(tags=[vip], title="Tagged")
    titles = lambda columns: {d.title for c in columns.values() for d in c.cards}  # noqa: E731
    assert titles(board_columns(staff_client, owner="mine")) == {mine.title}
    assert titles(board_columns(staff_client, tags__id__exact=vip.pk)) == {tagged.title}
    assert "Board" in staff_client.get(reverse("admin:crm_admin_deal_changelist")).content.decode()


def test_a_column_shows_its_largest_cards_and_links_to_the_rest(staff_client):
    contact = make_contact()
    Deal.objects.bulk_create(
        Deal(title=f"D{i}", contact=contact, stage=stage("Negotiation"), amount=Decimal(i))
        for i in range(60)
    )
    column = board_columns(staff_client)["Negotiation"]
    assert len(column.cards) == 50 and column.hidden == 10
    assert [card.amount for card in column.cards[:2]] == [Decimal(59), Decimal(58)]
    page = staff_client.get(BOARD).content.decode()
    assert "Show all (10 more)" in page
    assert f"stage__id__exact={stage('Negotiation').pk}" in page


def board_queries(client) -> int:
    client.get(BOARD)
    with CaptureQueriesContext(connection) as captured:
        client.get(BOARD)
    return len(captured)


def test_board_query_count_does_not_grow_with_deals(staff_client):
    make_deal()
    small = board_queries(staff_client)
    contact = make_contact()
    for name in ("Prospecting", "Negotiation", "Closed-Won", "Closed-Lost"):
        Deal.objects.bulk_create(
            Deal(title=f"{name} {i}", contact=contact, stage=stage(name), amount=Decimal(i))
            for i in range(120)
        )
    assert board_queries(staff_client) == small


def test_moving_a_card_to_won_applies_the_pipeline_rules(staff_client):
    deal = make_deal(probability=30)
    won = stage("Closed-Won")
    response = staff_client.post(
        move_url(deal) + "?owner=mine", {"stage": won.pk}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["deal"] == {
        "id": deal.pk,
        "stage": won.pk,
        "probability": 100,
        "next_step": "",
        "stale": "",
        "lost_reason": "",
    }
    assert payload["message"] == f"“{deal.title}” moved to Closed-Won."
    assert set(payload["columns"]) == {str(s.pk) for s in Stage.objects.all()}
    deal.refresh_from_db()
    assert (deal.stage, deal.probability) == (won, 100)
    assert deal.closed_at is not None

    staff_client.post(move_url(deal), {"stage": stage("Prospecting").pk})
    deal.refresh_from_db()
    assert deal.closed_at is None


def test_move_works_as_a_plain_form_post(staff_client):
    deal = make_deal()
    response = staff_client.post(
        move_url(deal) + "?owner=mine",
        {"stage": stage("Closed-Lost").pk, "lost_reason": lost_reason("Competitor").pk},
        follow=True,
    )
    assert response.redirect_chain == [(BOARD + "?owner=mine", 302)]
    assert f"“{deal.title}” moved to Closed-Lost: Competitor." in response.content.decode()
    deal.refresh_from_db()
    assert (deal.probability, deal.lost_reason) == (0, lost_reason("Competitor"))


@pytest.mark.parametrize("bad_stage", ["", "999999", "not-a-number"])
def test_move_to_a_bad_stage_is_refused_clearly(staff_client, bad_stage):
    deal = make_deal()
    response = staff_client.post(
        move_url(deal), {"stage": bad_stage}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert "stage" in response.json()["error"].lower()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_move_needs_the_change_permission(client, viewer):
    deal = make_deal()
    client.force_login(viewer)
    assert client.get(BOARD).status_code == 200, "viewers may look at the board"
    assert "data-move-form" not in client.get(BOARD).content.decode()
    response = client.post(move_url(deal), {"stage": stage("Closed-Won").pk})
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_move_needs_a_csrf_token(admin_user):
    deal = make_deal()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(move_url(deal), {"stage": stage("Closed-Won").pk})
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def test_move_answers_get_with_405_and_unknown_deal_with_404(staff_client):
    deal = make_deal()
    assert staff_client.get(move_url(deal)).status_code == 405
    missing = reverse("admin:crm_admin_deal_move", args=[999999])
    assert staff_client.post(missing, {"stage": stage("Closed-Won").pk}).status_code == 404


def test_move_with_broken_board_filters_is_refused_before_moving(staff_client):
    deal = make_deal()
    response = staff_client.post(
        move_url(deal) + "?stage__id__exact=abc",
        {"stage": stage("Closed-Won").pk},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert "filters are not valid" in response.json()["error"]
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting"


def move_queries(client, deal, stage_name, **fields) -> int:
    target = stage(stage_name).pk
    with CaptureQueriesContext(connection) as captured:
        response = client.post(
            move_url(deal) + "?owner=mine",
            {"stage": target, **fields},
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 200
    return len(captured)


def test_a_move_runs_a_fixed_small_number_of_queries(staff_client, admin_user):
    deal = make_deal(owner=admin_user)
    reason = {"lost_reason": lost_reason().pk}
    move_queries(staff_client, deal, "Negotiation")  # warms the per-process caches
    small = move_queries(staff_client, deal, "Closed-Won")
    small_lost = move_queries(staff_client, deal, "Closed-Lost", **reason)
    contact = make_contact()
    Deal.objects.bulk_create(
        Deal(title=f"D{i}", contact=contact, stage=stage("Negotiation"), owner=admin_user)
        for i in range(300)
    )
    large = move_queries(staff_client, deal, "Closed-Won")
    large_lost = move_queries(staff_client, deal, "Closed-Lost", **reason)
    # Session, user, deal, stage, the owner, stage and lost reason filters' choices, the move
    # (savepoint, admin history, stage history, update, release; the deal's row lock where
    # the database has them), the column totals and the stage ids: no page, no COUNT(*). A
    # lost reason is one more (the form looks it up).
    base = 15 if connection.features.has_select_for_update else 14
    assert (large, large_lost) == (small, small_lost) == (base, base + 1)
