"""The admin's pages read without JavaScript: a deal's page shows its history, and the
timeline pages by plain links."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from crm_admin.models import DealNote
from tests.browser.conftest import PASSWORD
from tests.factories import make_deal, stage

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def page_without_javascript(browser, live_server, superuser):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    yield page
    context.close()


def test_a_deal_page_and_its_timeline_read_without_javascript(page_without_javascript):
    deal = make_deal(title="Fleet tracking", amount=Decimal("900.00"))
    deal.stage = stage("Negotiation")
    deal.save()
    for number in range(25):  # more than a page of the timeline
        DealNote.objects.create(deal=deal, text=f"Call {number}")
    page = page_without_javascript

    page.goto(reverse("admin:crm_admin_deal_change", args=[deal.pk]))

    expect(page.get_by_label("Title")).to_have_value("Fleet tracking")
    timeline = page.locator("#timeline")
    expect(timeline).to_be_visible()
    expect(timeline.locator("li").first).to_contain_text("Call 24")
    page.get_by_role("link", name="Oldest").click()
    expect(timeline.locator("li").last).to_contain_text("Created in Prospecting.")
    expect(timeline).to_contain_text("Moved from Prospecting to Negotiation")
