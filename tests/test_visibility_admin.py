"""Deal visibility on every admin surface: with CRM_DEAL_VISIBILITY "own", a sales rep sees,
counts, searches, exports, moves and imports only the deals they own; a manager (and anyone
with "all") sees every deal; the lists and the board run as many queries either way."""

import csv
import io
from decimal import Decimal

import pytest
import tablib
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.deal_history import DealStageChange
from crm_admin.models import Deal, DealNote, SavedFilter, Stage
from crm_admin.resources import DealResource
from crm_admin.selectors import money, weighted
from tests.factories import make_company, make_contact, make_deal, make_user_in, stage
from tests.test_admin_actions import messages_of, run_action

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
BOARD = reverse("admin:crm_admin_deal_board")
EXPORT = reverse("admin:crm_admin_deal_export")
NOTES = reverse("admin:crm_admin_dealnote_changelist")
AUTOCOMPLETE = reverse("admin:autocomplete")


@pytest.fixture
def own(settings):
    settings.CRM_DEAL_VISIBILITY = "own"


@pytest.fixture
def team(db):
    """Two reps and a manager; each rep owns two deals of one shared contact, each deal with a
    note and a move in its stage history."""
    rep_a, rep_b = make_user_in("Sales rep"), make_user_in("Sales rep")
    manager = make_user_in("Sales manager")
    company = make_company(name="Fruit Co")
    contact = make_contact(company=company, email="buyer@fruit.example")

    def deal(title, owner, stage_name, amount, probability):
        made = make_deal(
            title=title,
            owner=owner,
            contact=contact,
            amount=Decimal(amount),
            probability=probability,
        )
        made.stage, made.actor = stage(stage_name), owner
        made.save()  # a move, for the stage history
        DealNote.objects.create(deal=made, text=f"Note on {title}", created_by=owner)
        return made

    return {
        "a": rep_a,
        "b": rep_b,
        "manager": manager,
        "company": company,
        "contact": contact,
        "a_deals": [
            deal("Apple renewal", rep_a, "Negotiation", "1000.00", 30),
            deal("Apple upsell", rep_a, "Negotiation", "2500.50", 60),
        ],
        "b_deals": [
            deal("Banana renewal", rep_b, "Negotiation", "7000.00", 50),
            deal("Banana upsell", rep_b, "Negotiation", "9000.00", 10),
        ],
    }


def login(client, user):
    client.force_login(user)
    return client


def listed(client, url=DEALS, **params) -> set[str]:
    response = client.get(url, params)
    assert response.status_code == 200
    return {str(row) for row in response.context["cl"].result_list}


def board_columns(client, **params) -> dict[str, dict]:
    response = client.get(BOARD, params)
    assert response.status_code == 200
    return {
        column.stage.name: {
            "cards": {card.title for card in column.cards},
            "totals": (column.count, column.value, column.weighted),
        }
        for column in response.context["columns"]
    }


def totals_over(deals) -> dict[str, tuple]:
    """{stage name: (count, value, weighted value)} summed in Python over `deals`."""
    sums: dict[str, list] = {}
    for deal in deals:
        count, value, product = sums.setdefault(deal.stage.name, [0, Decimal(0), Decimal(0)])
        sums[deal.stage.name] = [
            count + 1,
            value + deal.amount,
            product + deal.amount * deal.probability,
        ]
    return {
        name: (n, money(value), weighted(product)) for name, (n, value, product) in sums.items()
    }


def export_titles(client) -> set[str]:
    response = client.post(EXPORT, {"format": "0", "resource": "0"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    return {row["title"] for row in rows}


def autocomplete(client, term: str) -> set[str]:
    params = {"app_label": "crm_admin", "model_name": "dealnote", "field_name": "deal"}
    response = client.get(AUTOCOMPLETE, {**params, "term": term})
    assert response.status_code == 200
    return {result["text"] for result in response.json()["results"]}


def record_history(client, record):
    opts = record._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk])
    response = client.get(url)
    assert response.status_code == 200
    return response.context["record_history"], response.content.decode()


def timeline_deals(history) -> set[str]:
    return {item["item"].deal.title for item in history["timeline"]["items"] if item["item"].deal}


def not_found(response, pk) -> bool:
    """Django's answer to a change or history page of a deal that does not exist: back to the
    admin index saying so."""
    return response.redirect_chain == [(reverse("admin:index"), 302)] and messages_of(response) == [
        f"deal with ID “{pk}” doesn\u2019t exist. Perhaps it was deleted?"
    ]


def import_rows(user, *rows, dry_run=True):
    dataset = tablib.Dataset(headers=["id", "title", "contact_email", "stage"])
    for row in rows:
        dataset.append(row)
    return DealResource().import_data(dataset, dry_run=dry_run, user=user)


def error_texts(result) -> list[str]:
    return [
        message
        for row in result.invalid_rows
        for messages in row.error_dict.values()
        for message in messages
    ]


def snapshot(deals) -> list[tuple]:
    return list(
        Deal.objects.filter(pk__in=[d.pk for d in deals])
        .order_by("pk")
        .values_list("title", "stage__name", "probability", "amount", "owner_id")
    )


def test_a_rep_sees_and_changes_only_their_own_deals_on_every_admin_surface(client, own, team):
    a_deals, b_deals = team["a_deals"], team["b_deals"]
    mine, theirs = {d.title for d in a_deals}, {d.title for d in b_deals}
    b_before = snapshot(b_deals)
    hidden = b_deals[0]
    login(client, team["a"])

    # The list, its count, search, filters and a saved filter.
    response = client.get(DEALS)
    assert {str(d) for d in response.context["cl"].result_list} == mine
    assert response.context["cl"].result_count == 2
    assert "Banana" not in response.content.decode()
    assert listed(client, q="renewal") == {"Apple renewal"}
    assert listed(client, status="open") == mine
    assert listed(client, owner=str(team["b"].pk)) == set()
    assert listed(client, contact__id__exact=str(team["contact"].pk)) == mine
    saved = SavedFilter.objects.create(
        name="Open", target="deal", query="status=open", owner=team["a"]
    )
    assert listed(client, **QueryDict(saved.query).dict()) == mine

    # The board: only A's cards, its column totals the sums over A's deals alone.
    columns = board_columns(client)
    assert set().union(*(c["cards"] for c in columns.values())) == mine
    expected = totals_over(Deal.objects.filter(pk__in=[d.pk for d in a_deals]))
    for name, column in columns.items():
        assert column["totals"] == expected.get(name, (0, money(0), money(0))), name
    assert board_columns(client, q="renewal")["Negotiation"]["cards"] == {"Apple renewal"}
    # A move answers with the board's new column totals: over A's deals alone too.
    moved = client.post(
        reverse("admin:crm_admin_deal_move", args=[a_deals[0].pk]),
        {"stage": stage("Prospecting").pk},
        headers={"Accept": "application/json"},
    )
    assert moved.status_code == 200
    expected = totals_over(Deal.objects.filter(pk__in=[d.pk for d in a_deals]))
    answered = {
        Stage.objects.get(pk=pk).name: column["count"]
        for pk, column in moved.json()["columns"].items()
        if column["count"]
    }
    assert answered == {name: count for name, (count, _v, _w) in expected.items()}

    # The export: A's rows only.
    assert export_titles(client) == mine

    # Autocomplete (the deal note's deal field reads the deal admin's queryset).
    assert autocomplete(client, "renewal") == {"Apple renewal"}
    assert autocomplete(client, "Banana") == set()

    # The change and history pages of B's deal: "doesn't exist", as for an id no deal has.
    nobody = Deal.objects.order_by("-pk").first().pk + 1000
    for name in ("change", "history"):
        url = reverse(f"admin:crm_admin_deal_{name}", args=[hidden.pk])
        response = client.get(url, follow=True)
        assert not_found(response, hidden.pk), name
        assert "Banana" not in response.content.decode()
        posted = client.post(url, {"title": "Taken", "owner": team["a"].pk}, follow=True)
        assert not_found(posted, hidden.pk), name
        missing = reverse(f"admin:crm_admin_deal_{name}", args=[nobody])
        assert not_found(client.get(missing, follow=True), nobody), name

    # The move endpoint and the won/lost buttons: 404, nothing moved.
    move = reverse("admin:crm_admin_deal_move", args=[hidden.pk])
    assert (
        client.post(
            move, {"stage": stage("Closed-Won").pk}, headers={"Accept": "application/json"}
        ).status_code
        == 404
    )
    for name in ("mark_won_detail", "mark_lost_detail"):
        url = reverse(f"admin:crm_admin_deal_{name}", args=[hidden.pk])
        assert client.post(url, {"_form_submitted": "on"}).status_code == 404, name

    # Deal notes: the list, search, B's note's page, and no note added to B's deal.
    assert listed(client, NOTES) == {f"Note on {title}" for title in mine}
    assert listed(client, NOTES, q="Banana") == set()
    b_note = DealNote.objects.get(deal=hidden)
    note_page = client.get(reverse("admin:crm_admin_dealnote_change", args=[b_note.pk]))
    assert note_page.status_code == 302
    response = client.post(
        reverse("admin:crm_admin_dealnote_add"), {"deal": hidden.pk, "text": "Sneaky"}
    )
    assert response.status_code == 200 and response.context["adminform"].form.errors["deal"]
    assert not DealNote.objects.filter(text="Sneaky").exists()

    # The contact's and the company's pages: their deals, figures and timelines.
    for record in (team["contact"], team["company"]):
        history, page = record_history(client, record)
        related = history["deals"]["related"]
        assert {d.title for d in related.deals} == mine, record
        assert (related.count, related.open_count) == (2, 2)
        assert related.open_value == sum((d.amount for d in a_deals), Decimal(0))
        assert timeline_deals(history) == mine, record
        assert not any(title in page for title in theirs), record

    # The import: B's deal by id is no deal; by title it matches nothing (a new deal).
    email = team["contact"].email
    result = import_rows(team["a"], [hidden.pk, "Anything", email, "Closed-Won"])
    assert error_texts(result) == [
        f"No deal has the id {hidden.pk}: leave the id empty to add a new deal."
    ]
    result = import_rows(team["a"], ["", hidden.title, email, "Closed-Won"])
    assert not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"]) == (1, 0)

    # Select all -> mark won: A's deals won, B's untouched.
    response = run_action(client, DEALS, "mark_won", across=True)
    assert messages_of(response) == ["2 deals marked as won."]
    assert set(Deal.objects.filter(stage__name="Closed-Won").values_list("title", flat=True)) == (
        mine
    )
    assert snapshot(b_deals) == b_before
    assert not DealStageChange.objects.filter(deal__in=b_deals, changed_by=team["a"]).exists()


def test_a_manager_sees_every_deal_with_visibility_own(client, own, team):
    every = {d.title for d in team["a_deals"] + team["b_deals"]}
    hidden = team["b_deals"][0]
    login(client, team["manager"])
    assert listed(client) == every
    assert set().union(*(c["cards"] for c in board_columns(client).values())) == every
    assert export_titles(client) == every
    assert autocomplete(client, "renewal") == {"Apple renewal", "Banana renewal"}
    assert listed(client, NOTES) == {f"Note on {title}" for title in every}
    assert client.get(reverse("admin:crm_admin_deal_change", args=[hidden.pk])).status_code == 200
    for record in (team["contact"], team["company"]):
        history, _page = record_history(client, record)
        assert {d.title for d in history["deals"]["related"].deals} == every
        assert timeline_deals(history) == every
    email = team["contact"].email
    result = import_rows(team["manager"], [hidden.pk, hidden.title, email, "Closed-Won"])
    assert not result.has_validation_errors() and result.totals["update"] == 1


def test_crm_import_without_a_user_matches_every_deal(own, team):
    hidden = team["b_deals"][0]
    import_rows(None, [hidden.pk, hidden.title, team["contact"].email, "Closed-Won"], dry_run=False)
    hidden.refresh_from_db()
    assert hidden.stage.name == "Closed-Won"


def test_with_visibility_all_a_rep_sees_every_deal(client, settings, team):
    settings.CRM_DEAL_VISIBILITY = "all"
    every = {d.title for d in team["a_deals"] + team["b_deals"]}
    hidden = team["b_deals"][0]
    login(client, team["a"])
    assert listed(client) == every
    assert set().union(*(c["cards"] for c in board_columns(client).values())) == every
    assert export_titles(client) == every
    assert autocomplete(client, "renewal") == {"Apple renewal", "Banana renewal"}
    assert listed(client, NOTES) == {f"Note on {title}" for title in every}
    assert client.get(reverse("admin:crm_admin_deal_change", args=[hidden.pk])).status_code == 200
    history, _page = record_history(client, team["company"])
    assert timeline_deals(history) == every
    result = import_rows(team["a"], [hidden.pk, hidden.title, team["contact"].email, "Closed-Won"])
    assert "No deal has the id" not in " ".join(error_texts(result))


@pytest.mark.parametrize("url", [DEALS, BOARD, NOTES])
def test_lists_and_board_run_as_many_queries_with_visibility_own(
    client, settings, team, url, django_assert_num_queries
):
    login(client, team["a"])
    contact = team["contact"]

    def queries() -> int:
        client.get(url)  # warm: what a first request of the process reads once
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    settings.CRM_DEAL_VISIBILITY = "all"
    expected = queries()
    for size in (3, 12):
        for owner in (team["a"], team["b"]):
            for n in range(size):
                deal = make_deal(title=f"More {n}", owner=owner, contact=contact)
                DealNote.objects.create(deal=deal, text=f"More {n}", created_by=owner)
        for visibility in ("all", "own"):
            settings.CRM_DEAL_VISIBILITY = visibility
            client.get(url)
            with django_assert_num_queries(expected):
                client.get(url)


def test_a_rep_allowed_to_import_cannot_update_another_reps_deal_through_the_admin(
    client, own, team
):
    from tests.test_import_admin import upload

    rep, hidden = team["a"], team["b_deals"][0]
    rep.user_permissions.add(Permission.objects.get(codename="import_deal"))
    login(client, rep)
    row = f"{hidden.pk},Taken,{team['contact'].email},Closed-Won"
    content = f"id,title,contact_email,stage\n{row}\n"
    preview = upload(
        client, "deals.csv", content.encode(), url=reverse("admin:crm_admin_deal_import")
    )
    assert preview.status_code == 200
    result = preview.context["result"]
    assert error_texts(result) == [
        f"No deal has the id {hidden.pk}: leave the id empty to add a new deal."
    ]
    assert 'id="import-confirm"' not in preview.content.decode()
    hidden.refresh_from_db()
    assert (hidden.title, hidden.stage.name) == ("Banana renewal", "Negotiation")
