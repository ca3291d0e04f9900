"""The merge page works without JavaScript: plain radios and one submit merge two contacts."""

import pytest
from django.urls import reverse

from crm_admin.admin.merge import merge_url
from crm_admin.models import Contact
from tests.browser.test_without_javascript import page_without_javascript  # noqa: F401
from tests.factories import make_contact, make_deal

expect = pytest.importorskip("playwright.sync_api").expect


def test_two_contacts_merge_without_javascript(page_without_javascript):  # noqa: F811
    ann = make_contact(first_name="Ann", last_name="Lee", email="ann@acme.com")
    anne = make_contact(first_name="Anne", last_name="Lee", email="anne@acme.com", title="CTO")
    make_deal(contact=anne)
    page = page_without_javascript
    page.goto(merge_url(Contact, [ann.pk, anne.pk]))
    expect(page.get_by_role("heading", name="Merge contacts")).to_be_visible()
    # Keep Ann's record and name, with Anne's title and email.
    page.locator(f'input[name="survivor"][value="{ann.pk}"]').check()
    page.locator(f'input[name="value_name"][value="{ann.pk}"]').check()
    page.locator(f'input[name="value_email"][value="{anne.pk}"]').check()
    page.locator(f'input[name="value_title"][value="{anne.pk}"]').check()
    page.get_by_role("button", name="Merge").click()
    expect(page).to_have_url(reverse("admin:crm_admin_contact_change", args=[ann.pk]))
    expect(page.get_by_text("Merged 1 contact into Ann Lee <anne@acme.com>.")).to_be_visible()
    kept = Contact.objects.get()
    assert (kept.pk, kept.first_name, kept.email, kept.title) == (
        ann.pk,
        "Ann",
        "anne@acme.com",
        "CTO",
    )
