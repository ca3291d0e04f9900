"""What a client receives: related records summarised in place, ISO 8601 timestamps with an
offset, amounts as decimal strings."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from crm_admin.models import ContactNote, Deal, DealNote
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

NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def only_result(client, url_name, *args, **params):
    body = client.get(reverse(f"crm_api:{url_name}", args=args), params).json()
    assert body["count"] == 1, body
    return body["results"][0]


def test_a_contact_comes_with_its_company_and_tag_names(staff_client):
    northwind = make_company(name="Northwind")
    contact = make_contact(
        first_name="Ann",
        last_name="Lee",
        company=northwind,
        tags=[make_tag(name="Zeta"), make_tag(name="Alpha")],
        last_contacted_at=NOON,
    )
    row = only_result(staff_client, "contact-list")
    assert row["company"] == {"id": northwind.pk, "name": "Northwind"}
    assert row["tags"] == ["Alpha", "Zeta"]
    assert row["full_name"] == "Ann Lee"
    assert row["status"] == "new"
    assert row["last_contacted_at"] == "2026-01-15T12:00:00Z"
    detail = staff_client.get(reverse("crm_api:contact-detail", args=[contact.pk])).json()
    assert detail == row


def test_a_contact_without_company_or_tags(staff_client):
    make_contact()
    row = only_result(staff_client, "contact-list")
    assert row["company"] is None and row["tags"] == [] and row["last_contacted_at"] is None
    assert (row["owner"], row["next_step"], row["next_step_due"]) == (None, "", None)


def test_a_contact_comes_with_its_owner_and_next_step(staff_client):
    owner = make_user(username="alice")
    contact = make_contact(
        owner=owner, next_step="Send the revised quote", next_step_due=date(2026, 1, 5)
    )
    row = only_result(staff_client, "contact-list")
    assert row["owner"] == {"id": owner.pk, "username": "alice"}
    assert (row["next_step"], row["next_step_due"]) == ("Send the revised quote", "2026-01-05")
    assert staff_client.get(reverse("crm_api:contact-detail", args=[contact.pk])).json() == row


def test_a_deal_comes_with_stage_contact_company_owner_and_tags(staff_client):
    owner = make_user(username="alice")
    company = make_company(name="Acme")
    contact = make_contact(
        first_name="Bo", last_name="Ek", email="bo@acme.example", company=company
    )
    won = stage("Closed-Won")
    deal = make_deal(
        title="Big one",
        contact=contact,
        owner=owner,
        stage=won,
        amount=Decimal("12345.50"),
        tags=[make_tag(name="VIP")],
    )
    row = only_result(staff_client, "deal-list")
    assert row["amount"] == "12345.50"
    assert row["stage"] == {"id": won.pk, "name": "Closed-Won", "outcome": "won"}
    assert row["contact"] == {"id": contact.pk, "full_name": "Bo Ek", "email": "bo@acme.example"}
    assert row["company"] == {"id": company.pk, "name": "Acme"}
    assert row["owner"] == {"id": owner.pk, "username": "alice"}
    assert row["tags"] == ["VIP"]
    assert row["closed_at"].endswith("Z")
    assert staff_client.get(reverse("crm_api:deal-detail", args=[deal.pk])).json() == row


def test_a_deal_comes_with_when_it_entered_its_stage_and_its_lost_reason(staff_client):
    lost = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Competitor"))
    Deal.objects.filter(pk=lost.pk).update(stage_entered_at=NOON)
    row = staff_client.get(reverse("crm_api:deal-detail", args=[lost.pk])).json()
    assert (row["lost_reason"], row["stage_entered_at"]) == ("Competitor", "2026-01-15T12:00:00Z")
    open_deal = make_deal()
    row = staff_client.get(reverse("crm_api:deal-detail", args=[open_deal.pk])).json()
    assert row["lost_reason"] is None
    assert row["stage_entered_at"] == open_deal.stage_entered_at.isoformat().replace("+00:00", "Z")


def test_a_deal_without_amount_owner_or_company(staff_client):
    make_deal(amount=None)
    row = only_result(staff_client, "deal-list")
    assert row["amount"] is None and row["owner"] is None and row["company"] is None
    assert row["probability"] == 50 and row["closed_at"] is None
    assert (row["next_step"], row["next_step_due"]) == ("", None)


def test_a_deal_comes_with_its_next_step(staff_client):
    deal = make_deal(next_step="Book the kick-off", next_step_due=date(2026, 1, 9))
    row = only_result(staff_client, "deal-list")
    assert (row["next_step"], row["next_step_due"]) == ("Book the kick-off", "2026-01-09")
    assert staff_client.get(reverse("crm_api:deal-detail", args=[deal.pk])).json() == row
    make_deal(next_step="Call back")
    rows = staff_client.get(reverse("crm_api:deal-list"), {"ordering": "next_step_due"}).json()
    assert [(r["next_step"], r["next_step_due"]) for r in rows["results"]] == [
        ("Book the kick-off", "2026-01-09"),
        ("Call back", None),
    ]


def test_a_company_comes_with_its_number_of_contacts(staff_client):
    company = make_company(name="Busy")
    for _ in range(3):
        make_contact(company=company)
    make_company(name="Quiet")
    rows = staff_client.get(reverse("crm_api:company-list")).json()["results"]
    assert {row["name"]: row["contact_count"] for row in rows} == {"Busy": 3, "Quiet": 0}


def test_timestamps_carry_the_offset_of_the_configured_time_zone(staff_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    make_contact(last_contacted_at=NOON)
    row = only_result(staff_client, "contact-list")
    assert row["last_contacted_at"] == "2026-01-15T13:00:00+01:00"
    assert datetime.fromisoformat(row["created_at"]).utcoffset() is not None


def test_stages_come_in_pipeline_order(staff_client):
    rows = staff_client.get(reverse("crm_api:stage-list")).json()["results"]
    assert [row["name"] for row in rows][:2] == ["Prospecting", "Negotiation"]
    assert {row["outcome"] for row in rows} == {"open", "won", "lost"}


def test_notes_list_one_parents_notes_newest_first_with_their_author(staff_client):
    author = make_user(username="carol")
    deal = make_deal()
    other = make_deal()
    old = ContactNote.objects.create(contact=deal.contact, text="Intro", created_at=NOON)
    new = ContactNote.objects.create(
        contact=deal.contact, text="Follow-up", created_by=author, created_at=datetime.now(UTC)
    )
    ContactNote.objects.create(contact=other.contact, text="Elsewhere")
    rows = staff_client.get(reverse("crm_api:contact-note-list", args=[deal.contact.pk])).json()
    assert [row["id"] for row in rows["results"]] == [new.pk, old.pk]
    assert rows["results"][0]["author"] == {"id": author.pk, "username": "carol"}
    assert rows["results"][1]["author"] is None
    assert rows["results"][1] == {
        "id": old.pk,
        "contact": deal.contact.pk,
        "text": "Intro",
        "author": None,
        "created_at": "2026-01-15T12:00:00Z",
    }

    note = DealNote.objects.create(deal=deal, text="Quote sent", created_at=NOON)
    rows = staff_client.get(reverse("crm_api:deal-note-list", args=[deal.pk])).json()["results"]
    assert [(row["id"], row["deal"], row["text"]) for row in rows] == [
        (note.pk, deal.pk, "Quote sent")
    ]


def test_notes_of_a_missing_parent_are_not_found(staff_client):
    for route in ("crm_api:contact-note-list", "crm_api:deal-note-list"):
        assert staff_client.get(reverse(route, args=[987654])).status_code == 404


def test_unknown_or_malformed_ids_are_not_found(staff_client):
    for path in (
        "/api/crm/contacts/424242/",
        "/api/crm/deals/abc/",
        "/api/crm/tags/9" + "9" * 30 + "/",
    ):
        response = staff_client.get(path)
        assert response.status_code == 404, path
        assert "detail" in response.json()
