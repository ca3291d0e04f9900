"""Importing a CSV in the admin as a user does: choose the file, read the preview, confirm."""

import pytest
from django.urls import reverse

from crm_admin.models import Contact
from tests.test_import import DATA

expect = pytest.importorskip("playwright.sync_api").expect


def open_import_page(page):
    page.goto(reverse("admin:crm_admin_contact_changelist"))
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_text("Columns:")).to_be_visible()


def test_importing_a_csv_shows_a_preview_then_adds_the_contacts(admin_page):
    open_import_page(admin_page)
    admin_page.locator("input[type='file']").set_input_files(DATA / "contacts.csv")
    # The format follows the file's extension (django-import-export's script).
    expect(admin_page.locator("select[name='format']")).to_have_value("0")
    admin_page.get_by_role("button", name="Upload and preview").click()

    expect(admin_page.locator("[data-total='new']")).to_have_text("4")
    expect(admin_page.locator("#import-preview tbody tr")).to_have_count(4)
    assert not Contact.objects.exists()
    admin_page.get_by_role("button", name="Confirm import").click()

    expect(
        admin_page.get_by_text("Imported contacts: 4 created, 0 updated, 0 unchanged.")
    ).to_be_visible()
    expect(admin_page.get_by_text("ann.lee@example.com")).to_be_visible()
    assert Contact.objects.count() == 4


def test_a_file_with_errors_lists_them_and_cannot_be_confirmed(admin_page):
    open_import_page(admin_page)
    admin_page.locator("input[type='file']").set_input_files(DATA / "contacts_invalid_email.csv")
    admin_page.get_by_role("button", name="Upload and preview").click()

    errors = admin_page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("Enter a valid email address.")
    expect(admin_page.get_by_role("button", name="Confirm import")).to_have_count(0)
    assert not Contact.objects.exists()
