import re

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_admin.models import DealNote
from tests.factories import make_deal

expect = pytest.importorskip("playwright.sync_api").expect


def test_a_next_step_saved_with_a_note_shows_in_my_day_and_leads_back(admin_page, superuser):
    deal = make_deal(title="Harbour cranes", owner=superuser)
    make_deal(title="Someone else's", next_step="Not for boss", next_step_due=timezone.localdate())
    today = timezone.localdate()

    admin_page.goto(reverse("admin:crm_admin_deal_change", args=[deal.pk]))
    admin_page.locator("textarea[name='notes-0-text']").fill("Met the buyer: wants a new quote.")
    admin_page.locator("[name='next_step']").fill("Send the revised quote")
    admin_page.locator("[name='next_step_due']").fill(today.isoformat())
    admin_page.get_by_role("button", name="Save and continue editing").click()
    expect(admin_page.get_by_text("was changed successfully")).to_be_visible()

    admin_page.goto(reverse("admin:index"))
    due_now = admin_page.locator("#my-day-now tbody tr")
    step = due_now.filter(has_text="Send the revised quote")
    expect(step).to_contain_text("Harbour cranes")
    expect(step).to_contain_text("Today")
    expect(due_now.filter(has_text="Not for boss")).to_have_count(0)
    step.get_by_role("link", name="Harbour cranes").click()

    expect(admin_page).to_have_url(re.compile(rf"/admin/crm_admin/deal/{deal.pk}/change/$"))
    expect(admin_page.locator("[name='next_step']")).to_have_value("Send the revised quote")
    deal.refresh_from_db()
    assert (deal.next_step, deal.next_step_due) == ("Send the revised quote", today)
    assert DealNote.objects.get(deal=deal).text == "Met the buyer: wants a new quote."
