"""Deal visibility "own" through the API (issue 14): a rep's token lists, counts, filters,
searches and opens only the rep's deals and their notes, another rep's deal being a 404 as if
it did not exist; a manager's token sees every deal; contacts and companies stay shared; the
query counts are those of the unrestricted lists, at any size."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from crm_admin.api import selectors as api_selectors
from crm_admin.models import DealNote
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user_in, stage

pytestmark = pytest.mark.django_db

DEALS = reverse("crm_api:deal-list")


@pytest.fixture
def own(settings):
    settings.CRM_DEAL_VISIBILITY = "own"


@pytest.fixture
def team(own):
    """Two reps and a manager; deals of each rep, one of nobody's, a tag and notes on both
    reps' deals."""
    rep, other, manager = (
        make_user_in("Sales rep"),
        make_user_in("Sales rep"),
        make_user_in("Sales manager"),
    )
    shared_tag = make_tag(name="Hot")
    company = make_company(name="Shared Ltd")
    contact = make_contact(company=company, first_name="Shared", last_name="Person")
    mine = [
        make_deal(title="Rep anvil", owner=rep, contact=contact, tags=[shared_tag]),
        make_deal(title="Rep bellows", owner=rep, stage=stage("Closed-Won")),
    ]
    theirs = [
        make_deal(
            title="Other anvil",
            owner=other,
            contact=contact,
            tags=[shared_tag],
            amount=Decimal("9999.00"),
        ),
        make_deal(title="Other crucible", owner=other, stage=stage("Closed-Won")),
    ]
    nobodys = make_deal(title="Nobody anvil")
    for deal in (mine[0], theirs[0]):
        DealNote.objects.create(deal=deal, text=f"Note on {deal.title}")
    return {
        "rep": rep,
        "other": other,
        "manager": manager,
        "mine": mine,
        "theirs": theirs,
        "nobodys": nobodys,
        "contact": contact,
        "company": company,
    }


def token(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def get(client, user, url, params=None):
    return client.get(url, params or {}, headers=token(user))


def listed(client, user, url=DEALS, params=None) -> tuple[int, set[int]]:
    response = get(client, user, url, {"page_size": 200, **(params or {})})
    assert response.status_code == 200, response.content
    body = response.json()
    return body["count"], {row["id"] for row in body["results"]}


def ids(deals) -> set[int]:
    return {deal.pk for deal in deals}


def test_a_reps_token_lists_and_counts_only_their_deals(client, team):
    assert listed(client, team["rep"]) == (2, ids(team["mine"]))
    assert listed(client, team["other"]) == (2, ids(team["theirs"]))


def test_a_managers_token_lists_every_deal(client, team):
    every = ids([*team["mine"], *team["theirs"], team["nobodys"]])
    assert listed(client, team["manager"]) == (5, every)


def test_with_visibility_all_a_rep_sees_every_deal(client, team, settings):
    settings.CRM_DEAL_VISIBILITY = "all"
    assert listed(client, team["rep"])[0] == 5


def test_another_reps_deal_is_a_404_for_a_rep_and_opens_for_the_manager(client, team):
    theirs, nobodys, mine = team["theirs"][0], team["nobodys"], team["mine"][0]
    for deal in (theirs, nobodys):
        response = get(client, team["rep"], reverse("crm_api:deal-detail", args=[deal.pk]))
        assert response.status_code == 404, deal.title
        # The same answer as for an id that does not exist: nothing says the deal is there.
        assert response.json() == {"detail": "No Deal matches the given query."}
    response = get(client, team["rep"], reverse("crm_api:deal-detail", args=[mine.pk]))
    assert response.status_code == 200 and response.json()["title"] == "Rep anvil"
    response = get(client, team["manager"], reverse("crm_api:deal-detail", args=[theirs.pk]))
    assert response.status_code == 200 and response.json()["title"] == "Other anvil"


def test_another_reps_deal_notes_are_a_404_for_a_rep(client, team):
    theirs, mine = team["theirs"][0], team["mine"][0]
    missing = get(client, team["rep"], reverse("crm_api:deal-note-list", args=[10**9]))
    response = get(client, team["rep"], reverse("crm_api:deal-note-list", args=[theirs.pk]))
    assert response.status_code == 404
    assert response.json() == missing.json()
    assert listed(client, team["rep"], reverse("crm_api:deal-note-list", args=[mine.pk]))[0] == 1
    count, _ids = listed(
        client, team["manager"], reverse("crm_api:deal-note-list", args=[theirs.pk])
    )
    assert count == 1


def test_the_note_selector_finds_no_notes_of_an_invisible_deal(team):
    # The note list's rows go through the rule too, not only its 404 on the parent.
    theirs, mine = team["theirs"][0], team["mine"][0]
    assert not api_selectors.deal_notes_for_api(deal_id=theirs.pk, user=team["rep"]).exists()
    assert api_selectors.deal_notes_for_api(deal_id=mine.pk, user=team["rep"]).count() == 1
    assert api_selectors.deal_notes_for_api(deal_id=theirs.pk, user=team["manager"]).count() == 1


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "anvil"}, ["Rep anvil"]),
        ({"search": "other"}, []),
        ({"search": "shared person"}, ["Rep anvil"]),  # the contact both reps' deals share
        ({"tags": "hot"}, ["Rep anvil"]),
        ({"status": "won"}, ["Rep bellows"]),
        ({"stage": "Prospecting"}, ["Rep anvil"]),
        ({"amount__gte": "5000"}, []),
        ({"ordering": "-amount"}, ["Rep anvil", "Rep bellows"]),
    ],
)
def test_a_reps_filters_and_searches_reach_only_their_deals(client, team, params, expected):
    titles = {deal.pk: deal.title for deal in [*team["mine"], *team["theirs"], team["nobodys"]]}
    count, found = listed(client, team["rep"], params=params)
    assert count == len(expected)
    assert sorted(titles[pk] for pk in found) == sorted(expected)


def test_filtering_by_another_reps_id_shows_none_of_their_deals(client, team):
    assert listed(client, team["rep"], params={"owner": team["other"].pk}) == (0, set())
    count, found = listed(client, team["manager"], params={"owner": team["other"].pk})
    assert (count, found) == (2, ids(team["theirs"]))


def test_a_short_page_counts_only_the_reps_deals(client, team):
    response = get(client, team["rep"], DEALS, {"page_size": 1})
    body = response.json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    assert get(client, team["rep"], DEALS, {"page_size": 1, "page": 3}).status_code == 404


def test_contacts_and_companies_stay_shared(client, team):
    contact, company = team["contact"], team["company"]
    response = get(client, team["rep"], reverse("crm_api:contact-detail", args=[contact.pk]))
    assert response.status_code == 200
    # A contact carries no deals of its own to filter: nothing of the other rep's leaks.
    assert not any("deal" in key for key in response.json())
    assert contact.pk in listed(client, team["rep"], reverse("crm_api:contact-list"))[1]
    assert company.pk in listed(client, team["rep"], reverse("crm_api:company-list"))[1]


def _queries(client, user, url) -> int:
    headers = token(user)
    client.get(url, headers=headers)  # warm-up: per-process caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"page_size": 50}, headers=headers)
    assert response.status_code == 200 and response.json()["results"]
    return len(captured)


def test_a_reps_lists_cost_the_managers_queries_at_any_size(client, team):
    rep, other, manager = team["rep"], team["other"], team["manager"]
    notes = reverse("crm_api:deal-note-list", args=[team["mine"][0].pk])

    def counts():
        return [_queries(client, user, url) for user in (rep, manager) for url in (DEALS, notes)]

    small = counts()
    tag = make_tag()
    for i in range(30):
        for owner in (rep, other):
            deal = make_deal(title=f"More {i}", owner=owner, tags=[tag])
            DealNote.objects.create(deal=deal, text="More")
        DealNote.objects.create(deal=team["mine"][0], text=f"More {i}")
    # Token and user, the user's and the groups' permissions, then the count, the page and the
    # tag names (the note list: its deal, the count, the page); the visibility rule adds none.
    assert counts() == small == [6, 6, 6, 6]
    assert listed(client, rep)[0] == 32
