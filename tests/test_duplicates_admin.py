"""The company and contact forms ask before saving a likely duplicate, then save when told to.

Each test opens the form as a browser does (GET), types the record in and posts it; a warned
form is posted again as it came back, with the confirmation box ticked.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm_admin.admin.duplicate_warning import CONFIRM_FIELD
from crm_admin.models import Company, Contact
from tests.factories import make_company, make_contact
from tests.forms import form_data

pytestmark = pytest.mark.django_db

WARNING = 'id="duplicate-warning"'


def add_url(model, query: str = "") -> str:
    return reverse(f"admin:crm_admin_{model._meta.model_name}_add") + query


def change_url(obj) -> str:
    return reverse(f"admin:crm_admin_{obj._meta.model_name}_change", args=[obj.pk])


def add_form(client, model, query: str = "", **typed) -> dict:
    response = client.get(add_url(model, query))
    return form_data(response, f"{model._meta.model_name}_form", **typed)


def change_form(client, obj, **typed) -> dict:
    return form_data(client.get(change_url(obj)), f"{obj._meta.model_name}_form", **typed)


def warned(response) -> str:
    assert response.status_code == 200, "a likely duplicate is not saved the first time"
    page = response.content.decode()
    assert WARNING in page
    return page


def confirmed(response, model, **more) -> dict:
    """The warned form as it came back, with its box "Save anyway" ticked."""
    form_id = f"{model._meta.model_name}_form"
    page = response.content.decode()
    form = page[page.index(f'id="{form_id}"') :]
    form = form[: form.index("</form>")]
    assert f'<input type="checkbox" name="{CONFIRM_FIELD}"' in form, "the box is in the form"
    return form_data(response, form_id, **{CONFIRM_FIELD: "1"}, **more)


# --- companies -----------------------------------------------------------------------------


def test_a_new_company_with_the_name_of_another_is_shown_its_match_and_not_saved(staff_client):
    acme = make_company(name="Acme Inc.", website="https://acme.com")
    response = staff_client.post(
        add_url(Company), add_form(staff_client, Company, name="ACME, Inc", industry="Retail")
    )
    page = warned(response)
    assert Company.objects.count() == 1
    assert f'href="{change_url(acme)}"' in page
    assert "Acme Inc." in page and "Same name" in page and "https://acme.com" in page
    assert f'name="{CONFIRM_FIELD}"' in page
    # The warning stands for the form's error: no "Please correct the error below."
    assert "Please correct the error" not in page


def test_a_confirmed_company_is_saved(staff_client):
    make_company(name="Acme Inc.")
    first = staff_client.post(add_url(Company), add_form(staff_client, Company, name="ACME, Inc"))
    response = staff_client.post(add_url(Company), confirmed(first, Company))
    assert response.status_code == 302
    assert Company.objects.filter(name="ACME, Inc").exists()


def test_a_company_matching_nothing_is_saved_at_once(staff_client):
    make_company(name="Acme Inc.", website="https://acme.com")
    response = staff_client.post(
        add_url(Company),
        add_form(staff_client, Company, name="Globex", website="https://globex.com"),
    )
    assert response.status_code == 302
    assert Company.objects.filter(name="Globex").exists()


def test_a_company_with_the_website_of_another_is_warned(staff_client):
    make_company(name="Acme Inc.", website="https://www.acme.com/about")
    response = staff_client.post(
        add_url(Company), add_form(staff_client, Company, name="Acme Europe", website="acme.com")
    )
    assert "Same website" in warned(response)
    assert not Company.objects.filter(name="Acme Europe").exists()


def test_renaming_a_company_to_the_name_of_another_is_warned(staff_client):
    make_company(name="Acme Inc.")
    globex = make_company(name="Globex")
    response = staff_client.post(
        change_url(globex), change_form(staff_client, globex, name="ACME Ltd")
    )
    assert "Same name" in warned(response)
    globex.refresh_from_db()
    assert globex.name == "Globex"
    response = staff_client.post(change_url(globex), confirmed(response, Company))
    assert response.status_code == 302
    globex.refresh_from_db()
    assert globex.name == "ACME Ltd"


def test_an_unrelated_edit_of_an_old_duplicate_saves_without_looking_for_matches(staff_client):
    make_company(name="Acme Inc.", website="https://acme.com")
    twin = make_company(name="ACME Ltd", website="https://acme.com")
    data = change_form(staff_client, twin, industry="Retail")
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.post(change_url(twin), data)
    assert response.status_code == 302
    twin.refresh_from_db()
    assert twin.industry == "Retail"
    lookups = [
        q for q in queries if '"domain_key" IN' in q["sql"] or '"name_match_key" IN' in q["sql"]
    ]
    assert lookups == []


def test_the_matches_are_escaped(staff_client):
    make_company(name="<b>Bold</b> Ltd", website="https://bold.example/<i>")
    response = staff_client.post(
        add_url(Company), add_form(staff_client, Company, name="<b>Bold</b>")
    )
    page = warned(response)
    assert "&lt;b&gt;Bold&lt;/b&gt; Ltd" in page
    assert "<b>Bold</b>" not in page


# --- contacts ------------------------------------------------------------------------------


@pytest.fixture
def acme(db):
    return make_company(name="Acme Inc.")


def test_a_new_contact_with_the_phone_of_another_is_warned_with_its_email_and_company(
    staff_client, acme
):
    ann = make_contact(
        first_name="Ann",
        last_name="Lee",
        email="ann@acme.com",
        phone="(212) 555-0142",
        company=acme,
    )
    data = add_form(
        staff_client,
        Contact,
        first_name="Bob",
        last_name="Stone",
        email="bob@globex.com",
        phone="+1 212 555 0142",
    )
    page = warned(staff_client.post(add_url(Contact), data))
    assert not Contact.objects.filter(email="bob@globex.com").exists()
    assert f'href="{change_url(ann)}"' in page
    assert "Ann Lee" in page and "ann@acme.com" in page and "Acme Inc." in page
    assert "Same phone" in page


def test_a_confirmed_contact_is_saved_with_its_note(staff_client, acme):
    make_contact(phone="(212) 555-0142")
    data = add_form(
        staff_client,
        Contact,
        first_name="Bob",
        email="bob@globex.com",
        phone="212 555 0142",
        **{"notes-0-text": "Met at the fair"},
    )
    first = staff_client.post(add_url(Contact), data)
    warned(first)
    response = staff_client.post(add_url(Contact), confirmed(first, Contact))
    assert response.status_code == 302
    bob = Contact.objects.get(email="bob@globex.com")
    assert [note.text for note in bob.notes.all()] == ["Met at the fair"]


def test_the_same_name_at_the_same_company_is_warned_and_elsewhere_is_not(staff_client, acme):
    make_contact(first_name="José", last_name="Smith", company=acme)
    data = add_form(
        staff_client,
        Contact,
        first_name="smith,",
        last_name="jose",
        email="j@acme.com",
        company=str(acme.pk),
    )
    assert "Same name at the same company" in warned(staff_client.post(add_url(Contact), data))
    globex = make_company(name="Globex")
    data = add_form(
        staff_client,
        Contact,
        first_name="Jose",
        last_name="Smith",
        email="j@globex.com",
        company=str(globex.pk),
    )
    assert staff_client.post(add_url(Contact), data).status_code == 302


def test_changing_a_phone_to_one_another_contact_has_is_warned(staff_client):
    make_contact(phone="+44 20 7946 0958")
    bob = make_contact(phone="")
    response = staff_client.post(
        change_url(bob), change_form(staff_client, bob, phone="+44 (0)20 7946 0958")
    )
    assert "Same phone" in warned(response)
    bob.refresh_from_db()
    assert bob.phone == ""


def test_an_unrelated_edit_of_a_contact_with_a_twin_is_saved(staff_client):
    make_contact(phone="+1 212 555 0142")
    bob = make_contact(phone="+1 212 555 0142")
    response = staff_client.post(change_url(bob), change_form(staff_client, bob, title="CTO"))
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.title == "CTO"


def test_save_and_continue_after_the_confirmation_opens_the_new_contact(staff_client):
    make_contact(phone="+1 212 555 0142")
    data = add_form(
        staff_client, Contact, first_name="Bob", email="bob@globex.com", phone="+1 212 555 0142"
    )
    first = staff_client.post(add_url(Contact), {**data, "_continue": "1"})
    warned(first)
    response = staff_client.post(add_url(Contact), confirmed(first, Contact, _continue="1"))
    bob = Contact.objects.get(email="bob@globex.com")
    assert response.status_code == 302
    assert response["Location"] == change_url(bob)


def test_the_add_popup_warns_and_then_answers_the_opener(staff_client):
    make_contact(phone="+1 212 555 0142")
    query = "?_popup=1&_to_field=id"
    data = add_form(
        staff_client, Contact, query, first_name="Bob", email="bob@globex.com", phone="2125550142"
    )
    first = staff_client.post(add_url(Contact, query), data)
    page = warned(first)
    assert 'name="_popup"' in page
    response = staff_client.post(add_url(Contact, query), confirmed(first, Contact))
    bob = Contact.objects.get(email="bob@globex.com")
    assert response.status_code == 200
    assert "data-popup-response" in response.content.decode()
    assert f"&quot;value&quot;: &quot;{bob.pk}&quot;" in response.content.decode()


def test_the_check_costs_two_queries_however_many_records_match(staff_client, acme):
    for n in range(3):
        make_contact(
            first_name="Bob",
            last_name="Stone",
            phone="+1 212 555 0142",
            company=make_company(name=f"Globex {n}"),
        )
    make_contact(first_name="Bob", last_name="Stone", company=acme)
    typed = {
        "first_name": "Bob",
        "last_name": "Stone",
        "phone": "2125550142",
        "company": str(acme.pk),
    }
    data = add_form(staff_client, Contact, email="bob@acme.com", **typed)
    # Refused for its email (taken), after the same lookups but the check's.
    invalid = add_form(staff_client, Contact, email=make_contact().email, **typed)
    with CaptureQueriesContext(connection) as unchecked:
        assert staff_client.post(add_url(Contact), invalid).status_code == 200
    with CaptureQueriesContext(connection) as checked:
        page = warned(staff_client.post(add_url(Contact), data))
    # One lookup per rule (phone; name at the company): the matches' companies come with them.
    assert len(checked) == len(unchecked) + 2
    assert page.count("(Same phone)") == 3 and page.count("Globex ") == 3
    assert page.count("(Same name at the same company)") == 1
