import pytest
from django.urls import reverse

from crm_admin.models import ContactNote
from tests.factories import make_contact

expect = pytest.importorskip("playwright.sync_api").expect


def test_a_note_typed_in_the_notes_inline_is_saved_as_the_logged_in_users(admin_page, superuser):
    contact = make_contact(first_name="Ada", last_name="Lovelace")
    text = "Called about the renewal; she wants the new price list."

    admin_page.goto(reverse("admin:crm_admin_contact_change", args=[contact.pk]))
    admin_page.locator("textarea[name='notes-0-text']").fill(text)
    admin_page.get_by_role("button", name="Save and continue editing").click()

    expect(admin_page.get_by_text("was changed successfully")).to_be_visible()
    saved_row = admin_page.locator("#notes-group tbody").filter(has_text=text)
    expect(saved_row).to_contain_text(superuser.username)
    note = ContactNote.objects.get(contact=contact)
    assert note.text == text
    assert note.created_by == superuser
    contact.refresh_from_db()
    assert contact.last_contacted_at == note.created_at
