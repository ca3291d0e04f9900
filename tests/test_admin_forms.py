"""Admin forms as a user submits them: bad input gets a form error (never a 500)."""

import pytest
from django.urls import reverse

from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote, Stage, Tag
from tests.factories import make_company, make_contact, make_deal, make_tag, stage
from tests.forms import form_data

pytestmark = pytest.mark.django_db


def post_change_form(client, model, obj=None, **overrides):
    url = (
        reverse(f"admin:crm_admin_{model}_change", args=[obj.pk])
        if obj
        else reverse(f"admin:crm_admin_{model}_add")
    )
    data = form_data(client.get(url), f"{model}_form", **overrides)
    return client.post(url, data)


def errors_of(response) -> str:
    assert response.status_code == 200, "a refused form is shown again, not a redirect or a 500"
    return response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"probability": "150"}, "Ensure this value is less than or equal to 100."),
        ({"probability": "-5"}, "Ensure this value is greater than or equal to 0."),
        ({"amount": "-10"}, "The amount cannot be negative."),
        ({"amount": "lots"}, "Enter a number."),
        ({"expected_close_date": "2026-02-30"}, "Enter a valid date."),
        ({"title": ""}, "This field is required."),
    ],
)
def test_deal_form_rejects_bad_input_with_a_message(staff_client, overrides, message):
    deal = make_deal(title="Pilot", probability=40)
    response = post_change_form(staff_client, "deal", deal, **overrides)
    assert message in errors_of(response)
    deal.refresh_from_db()
    assert (deal.title, deal.probability) == ("Pilot", 40)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": "TAKEN@example.com"}, "A contact with this email already exists."),
        ({"first_name": ""}, "This field is required."),
        ({"status": "vanished"}, "Select a valid choice."),
    ],
)
def test_contact_form_rejects_bad_input_with_a_message(staff_client, overrides, message):
    make_contact(email="taken@example.com")
    fields = {"first_name": "Maria", "last_name": "Garcia", "email": "m@x.example"}
    response = post_change_form(staff_client, "contact", **(fields | overrides))
    assert message in errors_of(response)
    assert not Contact.objects.filter(last_name="Garcia").exists()


def test_company_and_tag_names_are_unique_in_any_case(staff_client):
    make_company(name="Northwind")
    make_tag(name="VIP")
    response = post_change_form(staff_client, "company", name="NORTHWIND")
    assert "A company with this name already exists." in errors_of(response)
    response = post_change_form(staff_client, "tag", name="vip")
    assert "A tag with this name already exists." in errors_of(response)
    response = post_change_form(staff_client, "company", name="Acme", website="not a url")
    assert "Enter a valid URL." in errors_of(response)
    assert Company.objects.count() == 1
    assert Tag.objects.filter(name__iexact="vip").count() == 1


def test_creating_a_deal_in_the_admin(staff_client, admin_user):
    contact = make_contact()
    vip = make_tag(name="VIP")
    response = post_change_form(
        staff_client,
        "deal",
        title="Data platform pilot",
        contact=str(contact.pk),
        stage=str(stage("Closed-Won").pk),
        amount="12500.50",
        probability="100",
        tags=[str(vip.pk)],
    )
    assert response.status_code == 302
    deal = Deal.objects.get(title="Data platform pilot")
    assert deal.owner == admin_user, "the owner defaults to the user creating the deal"
    assert deal.closed_at is not None
    assert list(deal.tags.all()) == [vip]


def test_contact_inline_saves_a_new_note_as_the_logged_in_user(staff_client, admin_user):
    contact = make_contact()
    ContactNote.objects.create(contact=contact, text="Older note")
    response = post_change_form(
        staff_client, "contact", contact, **{"notes-1-text": "Called, keen"}
    )
    assert response.status_code == 302
    note = contact.notes.get(text="Called, keen")
    assert note.created_by == admin_user
    contact.refresh_from_db()
    assert contact.last_contacted_at == note.created_at
    assert contact.notes.count() == 2


def test_saved_notes_are_read_only_and_listed_newest_first(staff_client):
    contact = make_contact()
    first = ContactNote.objects.create(contact=contact, text="First call")
    second = ContactNote.objects.create(contact=contact, text="Second call")
    url = reverse("admin:crm_admin_contact_change", args=[contact.pk])
    page = staff_client.get(url).content.decode()
    assert page.index("Second call") < page.index("First call")
    assert 'name="notes-0-text"' not in page, "saved notes are not editable"

    data = form_data(staff_client.get(url), "contact_form", **{"notes-0-text": "Rewritten"})
    staff_client.post(url, data)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.text, second.text) == ("First call", "Second call")


def test_deal_inline_saves_a_note_and_touches_the_contact(staff_client, admin_user):
    deal = make_deal()
    response = post_change_form(staff_client, "deal", deal, **{"notes-0-text": "Proposal sent"})
    assert response.status_code == 302
    note = DealNote.objects.get(deal=deal)
    assert note.created_by == admin_user
    deal.contact.refresh_from_db()
    assert deal.contact.last_contacted_at == note.created_at


def test_a_stage_added_in_the_admin_goes_to_the_end(staff_client):
    response = post_change_form(staff_client, "stage", name="Demo booked", outcome="open")
    assert response.status_code == 302
    assert list(Stage.objects.values_list("name", flat=True))[-1] == "Demo booked"


@pytest.mark.parametrize(
    ("model", "make_protected", "message"),
    [
        ("stage", lambda: make_deal(stage=stage("Negotiation")).stage, "Move those deals"),
        ("company", lambda: make_contact(company=make_company()).company, "Move the contacts"),
        ("contact", lambda: make_deal().contact, "Reassign or delete the deals"),
    ],
)
def test_deleting_a_parent_with_crm_records_is_refused_clearly(
    staff_client, model, make_protected, message
):
    parent = make_protected()
    url = reverse(f"admin:crm_admin_{model}_delete", args=[parent.pk])
    page = staff_client.get(url).content.decode()
    assert message in page
    response = staff_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert type(parent).objects.filter(pk=parent.pk).exists()


def test_bulk_delete_of_stages_with_deals_is_refused(staff_client):
    negotiation = make_deal(stage=stage("Negotiation")).stage
    empty = Stage.objects.create(name="Unused")
    response = staff_client.post(
        reverse("admin:crm_admin_stage_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [negotiation.pk, empty.pk],
            "post": "yes",
        },
    )
    assert "Move those deals" in response.content.decode()
    assert Stage.objects.filter(pk__in=[negotiation.pk, empty.pk]).count() == 2


def test_deleting_an_unused_stage_works(staff_client):
    unused = Stage.objects.create(name="Unused")
    response = staff_client.post(
        reverse("admin:crm_admin_stage_delete", args=[unused.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Stage.objects.filter(pk=unused.pk).exists()
