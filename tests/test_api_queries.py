"""Every API list costs the same number of SQL queries whatever the page size or row count."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from crm_admin.models import ContactNote, DealNote, Stage
from tests.factories import lost_reason, make_company, make_contact, make_deal, make_tag, make_user

pytestmark = pytest.mark.django_db

# A logged-in session costs 2 queries (session, user); a superuser needs no permission query.
# Then COUNT(*) for the pager, the page itself, and one prefetch of tag names where shown;
# a reference in a filter (tag or company name) is resolved once; a note list checks its parent;
# on PostgreSQL a search first collects the matching ids (crm_admin/search.py).
SEARCH = 1 if connection.vendor == "postgresql" else 0
LISTS = [
    ("contact-list", {}, 5),
    ("contact-list", {"ordering": "-last_contacted_at", "search": "example"}, 5 + SEARCH),
    ("contact-list", {"tags": ["Alpha", "beta"], "company": "Shared Ltd"}, 7),
    ("contact-list", {"has_next_step": "false", "ordering": "next_step_due"}, 5),
    ("deal-list", {}, 5),
    ("deal-list", {"status": "open", "stage": "Prospecting", "ordering": "-amount"}, 6),
    ("deal-list", {"lost_reason": "price", "ordering": "-closed_at"}, 6),
    ("company-list", {}, 4),
    ("company-list", {"ordering": "-contact_count"}, 4),
    ("stage-list", {}, 4),
    ("tag-list", {}, 4),
    ("contact-note-list", {}, 5),
    ("deal-note-list", {}, 5),
]


@pytest.fixture
def world():
    """Rows every list shows, with one contact and one deal that collect notes."""
    shared = make_company(name="Shared Ltd")
    tags = [make_tag(name="Alpha"), make_tag(name="Beta")]
    noted_deal = make_deal(contact=make_contact(company=shared, tags=tags), tags=tags)
    # A lost deal with a reason, so that the list filtered by reason has a row at any size.
    make_deal(stage=Stage.objects.get(name="Closed-Lost"), lost_reason=lost_reason())
    return {"company": shared, "tags": tags, "deal": noted_deal, "owner": make_user()}


def add_rows(world, count: int) -> None:
    """Add `count` contacts and deals (with company, tags, owner) and a note on each parent."""
    stages = list(Stage.objects.all())
    for i in range(count):
        contact = make_contact(
            company=world["company"] if i % 2 else make_company(),
            tags=world["tags"],
            owner=world["owner"],
        )
        deal_stage = stages[i % len(stages)]
        make_deal(
            contact=contact,
            owner=world["owner"],
            stage=deal_stage,
            tags=world["tags"],
            lost_reason=lost_reason() if deal_stage.outcome == Stage.Outcome.LOST else None,
        )
        make_tag()
        ContactNote.objects.create(
            contact=world["deal"].contact, text="Call", created_by=world["owner"]
        )
        DealNote.objects.create(deal=world["deal"], text="Quote", created_by=world["owner"])


def url_for(world, name: str) -> str:
    if name == "contact-note-list":
        return reverse(f"crm_api:{name}", args=[world["deal"].contact_id])
    if name == "deal-note-list":
        return reverse(f"crm_api:{name}", args=[world["deal"].pk])
    return reverse(f"crm_api:{name}")


def count_queries(client, url, params, **headers) -> int:
    client.get(url, params, headers=headers)  # warm-up: per-process caches, session save
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params, headers=headers)
    assert response.status_code == 200, response.content
    assert response.json()["results"], "the page shows rows"
    return len(queries)


@pytest.mark.parametrize(("name", "params", "expected"), LISTS)
def test_list_query_count_is_flat_across_sizes_and_page_sizes(
    staff_client, world, name, params, expected
):
    url = url_for(world, name)
    add_rows(world, 3)
    small = count_queries(staff_client, url, {**params, "page_size": 50})
    add_rows(world, 30)
    large = count_queries(staff_client, url, {**params, "page_size": 50})
    large_short_page = count_queries(staff_client, url, {**params, "page_size": 5})
    large_long_page = count_queries(staff_client, url, {**params, "page_size": 200})
    assert small == large == large_short_page == large_long_page == expected, (
        f"{name}: {small} queries with few rows, {large} with many, "
        f"{large_short_page} / {large_long_page} with page sizes 5 / 200"
    )


def test_a_token_client_costs_one_query_for_authentication(client, world):
    add_rows(world, 5)
    headers = {
        "Authorization": f"Token {Token.objects.create(user=make_user(is_superuser=True)).key}"
    }
    # Token and user in one join, then COUNT, the page, the tag prefetch.
    assert count_queries(client, reverse("crm_api:deal-list"), {}, **headers) == 4


def test_staff_with_view_permissions_add_only_the_permission_lookups(client, viewer, world):
    add_rows(world, 5)
    client.force_login(viewer)
    # A superuser's 5 plus user and group permissions, loaded once for the request.
    assert count_queries(client, reverse("crm_api:contact-list"), {}) == 7
