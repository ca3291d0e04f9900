"""Without JavaScript, the contact form warns of a likely duplicate and saves once confirmed."""

import pytest
from django.urls import reverse

from crm_admin.models import Contact
from tests.browser.test_without_javascript import page_without_javascript  # noqa: F401
from tests.factories import make_company, make_contact

expect = pytest.importorskip("playwright.sync_api").expect


def test_a_likely_duplicate_is_confirmed_with_the_box_and_saved(page_without_javascript):  # noqa: F811
    ann = make_contact(
        first_name="Ann",
        last_name="Lee",
        email="ann@acme.com",
        phone="(212) 555-0142",
        company=make_company(name="Acme Inc."),
    )
    page = page_without_javascript
    page.goto(reverse("admin:crm_admin_contact_add"))
    page.get_by_label("First name").fill("Bob")
    page.get_by_label("Email").fill("bob@globex.com")
    page.get_by_label("Phone").fill("+1 212 555 0142")
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.locator("#duplicate-warning")
    expect(warning).to_contain_text("Not saved yet: this contact may already exist.")
    expect(warning.get_by_role("link", name="Ann Lee")).to_have_attribute(
        "href", reverse("admin:crm_admin_contact_change", args=[ann.pk])
    )
    expect(warning).to_contain_text("ann@acme.com · Acme Inc.")
    assert not Contact.objects.filter(email="bob@globex.com").exists()
    expect(page.get_by_label("Email")).to_have_value("bob@globex.com")
    page.get_by_label("Save anyway: this is a different contact").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(reverse("admin:crm_admin_contact_changelist"))
    assert Contact.objects.filter(email="bob@globex.com").exists()
