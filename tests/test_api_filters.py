"""Filtering, search, ordering and paging of the API lists; 400 for values that make no sense."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm_admin.models import Contact, ContactNote, DealNote, Tag
from tests.factories import (
    lost_reason,
    make_company,
    make_contact,
    make_deal,
    make_tag,
    make_user,
    stage,
)

pytestmark = pytest.mark.django_db

FIXTURES = sorted(str(p) for p in (Path(__file__).parent.parent / "fixtures").glob("*.json"))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def get(client, url_name, params=None, *args):
    response = client.get(reverse(f"crm_api:{url_name}", args=args), params or {})
    assert response.status_code == 200, response.content
    return response.json()


def ids(client, url_name, params=None, *args) -> set[int]:
    return {row["id"] for row in get(client, url_name, params, *args)["results"]}


def contact(*, tags=(), last_contacted_at=None, **fields) -> Contact:
    made = make_contact(tags=tags, **fields)
    if last_contacted_at:
        Contact.objects.filter(pk=made.pk).update(last_contacted_at=last_contacted_at)
    return made


@pytest.fixture
def buyers():
    # A migration ships the tag (with a saved filter on it); other databases may lack it.
    return Tag.objects.get_or_create(name="Buyers")[0]


@pytest.fixture
def vip():
    return make_tag(name="VIP")


# The two scenarios of the issue, exactly as written.


def test_buyers_not_contacted_since_a_date(staff_client, buyers, vip):
    before = contact(tags=[buyers], last_contacted_at=at(2025, 11, 8, 23, 59, 59))
    long_before = contact(tags=[buyers, vip], last_contacted_at=at(2025, 6, 1))
    contact(tags=[buyers], last_contacted_at=at(2025, 11, 9))  # on the day: not before it
    contact(tags=[buyers])  # never contacted: not "before" any date
    contact(tags=[vip], last_contacted_at=at(2025, 1, 1))

    response = staff_client.get("/api/crm/contacts/?tags=Buyers&last_contacted_at__lt=2025-11-09")

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {before.pk, long_before.pk}


def test_consulting_contacts_waiting_for_an_answer(staff_client):
    call_command("loaddata", *FIXTURES, verbosity=0)
    expected = set(
        Contact.objects.filter(
            tags__name="Consulting", status=Contact.Status.PENDING_RESPONSE
        ).values_list("pk", flat=True)
    )
    assert expected, "the demo data has such contacts"

    response = staff_client.get("/api/crm/contacts/?tags=Consulting&status=pending_response")

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == expected


def test_both_scenarios_agree_with_the_orm_on_the_demo_data(staff_client):
    call_command("loaddata", *FIXTURES, verbosity=0)
    response = staff_client.get("/api/crm/contacts/?tags=Buyers&last_contacted_at__lt=2025-11-09")
    expected = Contact.objects.filter(tags__name="Buyers", last_contacted_at__lt=at(2025, 11, 9))
    assert response.json()["count"] == expected.count()


# Contacts.


def test_repeated_tags_mean_every_one_of_them_ignoring_case(staff_client, buyers, vip):
    both = contact(tags=[buyers, vip])
    only_buyers = contact(tags=[buyers])
    contact(tags=[vip])
    assert ids(staff_client, "contact-list", {"tags": "buyers"}) == {both.pk, only_buyers.pk}
    assert ids(staff_client, "contact-list", {"tags": ["BUYERS", "vip"]}) == {both.pk}


def test_contacts_by_status(staff_client):
    waiting = contact(status=Contact.Status.PENDING_RESPONSE)
    contact(status=Contact.Status.NEW)
    assert ids(staff_client, "contact-list", {"status": "pending_response"}) == {waiting.pk}


def test_contacts_by_company_id_or_name(staff_client):
    northwind = make_company(name="Northwind Traders")
    at_northwind = contact(company=northwind)
    contact(company=make_company(name="Contoso"))
    contact()
    assert ids(staff_client, "contact-list", {"company": northwind.pk}) == {at_northwind.pk}
    assert ids(staff_client, "contact-list", {"company": "northwind traders"}) == {at_northwind.pk}


def test_contacts_by_last_contact_range_and_never_contacted(staff_client):
    october = contact(last_contacted_at=at(2025, 10, 15))
    november = contact(last_contacted_at=at(2025, 11, 20))
    never = contact()
    assert ids(staff_client, "contact-list", {"last_contacted_at__gte": "2025-11-01"}) == {
        november.pk
    }
    window = {"last_contacted_at__gte": "2025-10-01", "last_contacted_at__lt": "2025-11-01"}
    assert ids(staff_client, "contact-list", window) == {october.pk}
    assert ids(staff_client, "contact-list", {"last_contacted_at__isnull": "true"}) == {never.pk}
    assert ids(staff_client, "contact-list", {"last_contacted_at__isnull": "false"}) == {
        october.pk,
        november.pk,
    }


def test_timestamps_accept_an_offset(staff_client):
    late = contact(last_contacted_at=at(2025, 11, 8, 23, 30))
    # 00:00 in UTC+01:00 is 23:00 UTC the day before: the contact at 23:30 UTC is not before it.
    params = {"last_contacted_at__lt": "2025-11-09T00:00:00+01:00"}
    assert ids(staff_client, "contact-list", params) == set()
    params = {"last_contacted_at__lt": "2025-11-09T00:00:00Z"}
    assert ids(staff_client, "contact-list", params) == {late.pk}


def test_contacts_by_creation_range(staff_client):
    old, new = contact(), contact()
    Contact.objects.filter(pk=old.pk).update(created_at=at(2024, 5, 1))
    Contact.objects.filter(pk=new.pk).update(created_at=at(2025, 5, 1))
    assert ids(staff_client, "contact-list", {"created_at__gte": "2025-01-01"}) == {new.pk}
    assert ids(staff_client, "contact-list", {"created_at__lt": "2025-01-01"}) == {old.pk}


def test_contact_search_finds_every_word_in_name_email_or_company(staff_client):
    ann = contact(first_name="Ann", last_name="Lee", email="ann@northwind.example")
    bob = contact(first_name="Bob", email="bob@mail.example", company=make_company(name="Acme"))
    contact(first_name="Carla", email="carla@mail.example")
    assert ids(staff_client, "contact-list", {"search": "ann"}) == {ann.pk}
    assert ids(staff_client, "contact-list", {"search": "NORTHWIND"}) == {ann.pk}
    assert ids(staff_client, "contact-list", {"search": "acme"}) == {bob.pk}
    assert ids(staff_client, "contact-list", {"search": "bob acme"}) == {bob.pk}
    assert ids(staff_client, "contact-list", {"search": "ann acme"}) == set()


# Deals.


def test_deals_by_stage_id_or_name(staff_client):
    negotiation = make_deal(stage=stage("Negotiation"))
    make_deal(stage=stage("Prospecting"))
    assert ids(staff_client, "deal-list", {"stage": negotiation.stage_id}) == {negotiation.pk}
    assert ids(staff_client, "deal-list", {"stage": "negotiation"}) == {negotiation.pk}


def test_deals_by_status_from_the_stage_outcome(staff_client):
    open_deal = make_deal(stage=stage("Prospecting"))
    won = make_deal(stage=stage("Closed-Won"))
    lost = make_deal(stage=stage("Closed-Lost"))
    assert ids(staff_client, "deal-list", {"status": "open"}) == {open_deal.pk}
    assert ids(staff_client, "deal-list", {"status": "won"}) == {won.pk}
    assert ids(staff_client, "deal-list", {"status": "lost"}) == {lost.pk}


def test_deals_by_lost_reason_id_or_name(staff_client):
    price = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Price"))
    make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Timing"))
    make_deal(stage=stage("Closed-Lost"))
    make_deal()
    assert ids(staff_client, "deal-list", {"lost_reason": lost_reason("Price").pk}) == {price.pk}
    assert ids(staff_client, "deal-list", {"lost_reason": "PRICE"}) == {price.pk}


def test_deals_by_owner(staff_client):
    alice = make_user()
    hers = make_deal(owner=alice)
    make_deal(owner=make_user())
    make_deal()
    assert ids(staff_client, "deal-list", {"owner": alice.pk}) == {hers.pk}


def test_deals_by_tags(staff_client, buyers, vip):
    both = make_deal(tags=[buyers, vip])
    make_deal(tags=[vip])
    assert ids(staff_client, "deal-list", {"tags": ["Vip", "buyers"]}) == {both.pk}


def test_deals_by_probability_amount_and_expected_close(staff_client):
    small = make_deal(
        probability=20, amount=Decimal("500.00"), expected_close_date=date(2026, 1, 10)
    )
    large = make_deal(
        probability=80, amount=Decimal("9000.50"), expected_close_date=date(2026, 3, 1)
    )
    make_deal(amount=None, probability=40)
    assert ids(staff_client, "deal-list", {"probability__gte": 50}) == {large.pk}
    assert ids(staff_client, "deal-list", {"probability__lte": 20}) == {small.pk}
    assert ids(staff_client, "deal-list", {"amount__gte": "9000.50"}) == {large.pk}
    assert ids(staff_client, "deal-list", {"amount__lte": "500"}) == {small.pk}
    window = {"expected_close_date__gte": "2026-01-10", "expected_close_date__lte": "2026-02-28"}
    assert ids(staff_client, "deal-list", window) == {small.pk}


def test_deal_search_covers_title_contact_and_company(staff_client):
    acme = make_company(name="Acme")
    renewal = make_deal(title="Licence renewal")
    at_acme = make_deal(contact=make_contact(first_name="Zoe", company=acme))
    assert ids(staff_client, "deal-list", {"search": "RENEWAL"}) == {renewal.pk}
    assert ids(staff_client, "deal-list", {"search": "acme zoe"}) == {at_acme.pk}


# Next steps.


def test_deals_by_next_step_due_and_whether_they_have_one(staff_client):
    overdue = make_deal(next_step="Call", next_step_due=date(2026, 1, 31))
    later = make_deal(next_step="Quote", next_step_due=date(2026, 2, 2))
    undated = make_deal(next_step="Ask for the order")
    without = make_deal()
    closed = make_deal(stage=stage("Closed-Won"))
    assert ids(staff_client, "deal-list", {"next_step_due__lte": "2026-01-31"}) == {overdue.pk}
    assert ids(staff_client, "deal-list", {"next_step_due__gte": "2026-02-01"}) == {later.pk}
    window = {"next_step_due__gte": "2026-01-31", "next_step_due__lte": "2026-02-02"}
    assert ids(staff_client, "deal-list", window) == {overdue.pk, later.pk}
    with_step = {overdue.pk, later.pk, undated.pk}
    assert ids(staff_client, "deal-list", {"has_next_step": "true"}) == with_step
    assert ids(staff_client, "deal-list", {"has_next_step": "false"}) == {without.pk, closed.pk}
    params = {"has_next_step": "0", "status": "open"}
    assert ids(staff_client, "deal-list", params) == {without.pk}


def test_contacts_by_owner_next_step_due_and_whether_they_have_one(staff_client):
    alice = make_user()
    hers = contact(owner=alice, next_step="Call", next_step_due=date(2026, 3, 1))
    undated = contact(owner=alice, next_step="Send the brochure")
    other = contact(owner=make_user(), next_step="Visit", next_step_due=date(2026, 2, 1))
    nobody = contact()
    assert ids(staff_client, "contact-list", {"owner": alice.pk}) == {hers.pk, undated.pk}
    assert ids(staff_client, "contact-list", {"next_step_due__lte": "2026-02-28"}) == {other.pk}
    assert ids(staff_client, "contact-list", {"next_step_due__gte": "2026-02-28"}) == {hers.pk}
    assert ids(staff_client, "contact-list", {"has_next_step": "1"}) == {
        hers.pk,
        undated.pk,
        other.pk,
    }
    assert ids(staff_client, "contact-list", {"has_next_step": "false"}) == {nobody.pk}
    params = {"owner": alice.pk, "has_next_step": "true", "next_step_due__lte": "2026-03-01"}
    assert ids(staff_client, "contact-list", params) == {hers.pk}


# Companies and notes.


def test_companies_by_industry_and_search(staff_client):
    shop = make_company(name="Corner Shop", industry="Retail", website="https://shop.example")
    make_company(name="Code Works", industry="Software")
    assert ids(staff_client, "company-list", {"industry": "retail"}) == {shop.pk}
    assert ids(staff_client, "company-list", {"search": "corner"}) == {shop.pk}
    assert ids(staff_client, "company-list", {"search": "shop.example"}) == {shop.pk}


def test_notes_by_creation_range(staff_client):
    deal = make_deal()
    early = ContactNote.objects.create(contact=deal.contact, text="a", created_at=at(2025, 1, 5))
    late = ContactNote.objects.create(contact=deal.contact, text="b", created_at=at(2025, 3, 5))
    window = {"created_at__gte": "2025-03-01", "created_at__lt": "2025-04-01"}
    assert ids(staff_client, "contact-note-list", window, deal.contact.pk) == {late.pk}
    assert ids(
        staff_client, "contact-note-list", {"created_at__lt": "2025-02-01"}, deal.contact.pk
    ) == {early.pk}
    on_deal = DealNote.objects.create(deal=deal, text="c", created_at=at(2025, 2, 1))
    DealNote.objects.create(deal=deal, text="d", created_at=at(2025, 5, 1))
    assert ids(staff_client, "deal-note-list", {"created_at__lt": "2025-03-01"}, deal.pk) == {
        on_deal.pk
    }


# Malformed values.


@pytest.mark.parametrize(
    ("url_name", "params", "field", "reason"),
    [
        ("contact-list", {"last_contacted_at__lt": "2025-13-45"}, "last_contacted_at__lt", "date"),
        ("contact-list", {"created_at__gte": "yesterday"}, "created_at__gte", "date"),
        ("contact-list", {"status": "sleeping"}, "status", "valid choice"),
        ("contact-list", {"tags": ["Buyers", "Nope"]}, "tags", "Nope"),
        ("contact-list", {"company": "No Such Ltd"}, "company", "No Such Ltd"),
        ("contact-list", {"company": "999999"}, "company", "999999"),
        (
            "contact-list",
            {"last_contacted_at__isnull": "maybe"},
            "last_contacted_at__isnull",
            "true",
        ),
        ("deal-list", {"probability__gte": "high"}, "probability__gte", "number"),
        ("deal-list", {"probability__lte": "101"}, "probability__lte", "100"),
        ("deal-list", {"amount__gte": "1,000"}, "amount__gte", "number"),
        ("deal-list", {"amount__lte": "1e400"}, "amount__lte", "digits"),
        (
            "deal-list",
            {"expected_close_date__gte": "2026-02-30"},
            "expected_close_date__gte",
            "date",
        ),
        ("deal-list", {"status": "pending"}, "status", "valid choice"),
        ("deal-list", {"next_step_due__lte": "2026-02-30"}, "next_step_due__lte", "date"),
        ("deal-list", {"next_step_due__gte": "tomorrow"}, "next_step_due__gte", "date"),
        ("deal-list", {"has_next_step": "yes"}, "has_next_step", "true or false"),
        ("contact-list", {"next_step_due__lte": "31/01/2026"}, "next_step_due__lte", "date"),
        ("contact-list", {"next_step_due__gte": "2026-13-01"}, "next_step_due__gte", "date"),
        ("contact-list", {"has_next_step": "maybe"}, "has_next_step", "true or false"),
        ("contact-list", {"owner": "alice"}, "owner", "whole number"),
        ("contact-list", {"owner": "424242"}, "owner", "No user"),
        (
            "contact-list",
            {"last_contacted_at__lt": "9999-12-31T23:59:59-05:00"},
            "last_contacted_at__lt",
            "9999",
        ),
        (
            "contact-list",
            {"created_at__gte": "0001-01-01T00:00:00+05:00"},
            "created_at__gte",
            "9999",
        ),
        ("deal-list", {"stage": "Nowhere"}, "stage", "Nowhere"),
        ("deal-list", {"lost_reason": "Too pricey"}, "lost_reason", "No lost reason"),
        ("deal-list", {"lost_reason": "424242"}, "lost_reason", "424242"),
        ("deal-list", {"owner": "bob"}, "owner", "whole number"),
        ("deal-list", {"owner": "99999999999999999999999"}, "owner", "No user"),
        ("deal-list", {"page_size": "ten"}, "page_size", "whole number"),
        ("deal-list", {"page": "0"}, "page", "whole number"),
        ("company-list", {"page": "two"}, "page", "whole number"),
    ],
)
def test_malformed_values_answer_400_with_the_field_and_reason(
    staff_client, buyers, url_name, params, field, reason
):
    response = staff_client.get(reverse(f"crm_api:{url_name}"), params)
    assert response.status_code == 400
    messages = response.json()[field]
    assert any(reason.lower() in message.lower() for message in messages), messages


def test_malformed_values_on_notes_answer_400(staff_client):
    deal = make_deal()
    url = reverse("crm_api:deal-note-list", args=[deal.pk])
    response = staff_client.get(url, {"created_at__gte": "soon"})
    assert response.status_code == 400
    assert "created_at__gte" in response.json()


# Ordering and paging.


def test_ordering_by_a_useful_field_either_way(staff_client):
    deals = [make_deal(amount=Decimal(n)) for n in (300, 100, 200)]
    by_amount = [
        row["id"] for row in get(staff_client, "deal-list", {"ordering": "amount"})["results"]
    ]
    assert by_amount == [deals[1].pk, deals[2].pk, deals[0].pk]
    descending = get(staff_client, "deal-list", {"ordering": "-amount"})["results"]
    assert [row["id"] for row in descending] == by_amount[::-1]


def test_empty_values_come_last_in_either_direction_on_every_database(staff_client):
    unknown = make_deal(amount=None)
    small, large = make_deal(amount=Decimal(10)), make_deal(amount=Decimal(20))
    for ordering, expected in [("amount", [small, large]), ("-amount", [large, small])]:
        rows = get(staff_client, "deal-list", {"ordering": ordering})["results"]
        assert [row["id"] for row in rows] == [deal.pk for deal in [*expected, unknown]]
    acme = make_company()
    never = contact(company=acme)
    recent = contact(company=acme, last_contacted_at=at(2025, 11, 1))
    params = {"company": acme.pk, "ordering": "-last_contacted_at"}
    assert [row["id"] for row in get(staff_client, "contact-list", params)["results"]] == [
        recent.pk,
        never.pk,
    ]


def test_equal_values_keep_one_order_across_pages(staff_client):
    deals = [make_deal(probability=50) for _ in range(5)]
    params = {"ordering": "probability", "page_size": 2}
    seen = []
    for page in (1, 2, 3):
        seen += [
            row["id"] for row in get(staff_client, "deal-list", {**params, "page": page})["results"]
        ]
    assert seen == sorted(deal.pk for deal in deals)


def test_unknown_ordering_fields_are_ignored(staff_client):
    make_contact()
    assert get(staff_client, "contact-list", {"ordering": "password"})["count"] == 1


def test_pages_hold_50_by_default_and_at_most_200(staff_client):
    Tag.objects.bulk_create(Tag(name=f"Tag {n:03}") for n in range(210 - Tag.objects.count()))
    body = get(staff_client, "tag-list")
    assert (body["count"], len(body["results"])) == (210, 50)
    assert body["next"].endswith("page=2") and body["previous"] is None
    assert len(get(staff_client, "tag-list", {"page_size": 7})["results"]) == 7
    assert len(get(staff_client, "tag-list", {"page_size": 500})["results"]) == 200
    last = get(staff_client, "tag-list", {"page_size": 200, "page": 2})
    assert len(last["results"]) == 10 and last["next"] is None


def test_a_page_past_the_end_is_not_found(staff_client):
    make_contact()
    assert staff_client.get(reverse("crm_api:contact-list"), {"page": 5}).status_code == 404


def test_a_page_number_of_thousands_of_digits_is_past_the_end(staff_client):
    # Python's int() refuses more than 4,300 digits with a ValueError, not a page.
    make_contact()
    url = reverse("crm_api:contact-list")
    assert staff_client.get(url, {"page": "9" * 5000}).status_code == 404
    assert staff_client.get(url, {"page_size": "9" * 5000}).status_code == 200
    assert staff_client.get(url, {"page": "0" * 5000}).status_code == 400
