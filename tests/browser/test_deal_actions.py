import pytest
from django.urls import reverse

from crm_admin.models import Deal
from tests.factories import make_deal, stage

expect = pytest.importorskip("playwright.sync_api").expect


def test_selecting_deals_and_marking_them_won_reports_it(admin_page):
    chosen = [make_deal(title=f"Chosen {i}", probability=20) for i in range(3)]
    other = make_deal(title="Left alone")

    admin_page.goto(reverse("admin:crm_admin_deal_changelist"))
    for deal in chosen:
        admin_page.locator(f"input.action-select[value='{deal.pk}']").check()
    admin_page.locator("select[name='action']").select_option("mark_won")
    admin_page.get_by_role("button", name="Run").click()

    expect(admin_page.get_by_text("3 deals marked as won.")).to_be_visible()
    assert Deal.objects.filter(pk__in=[d.pk for d in chosen], probability=100).count() == 3
    other.refresh_from_db()
    assert other.stage == stage("Prospecting")


def test_the_mark_won_button_on_a_deal_page_asks_then_closes_the_deal(admin_page):
    deal = make_deal(title="Pilot", probability=40)
    admin_page.goto(reverse("admin:crm_admin_deal_change", args=[deal.pk]))
    admin_page.get_by_role("link", name="Mark won").click()
    expect(admin_page.get_by_text("Mark this deal as won?")).to_be_visible()
    admin_page.get_by_role("button", name="Mark won").click()

    expect(admin_page.get_by_text("The deal is marked as won.")).to_be_visible()
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability) == ("Closed-Won", 100)
