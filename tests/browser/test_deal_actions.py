import pytest
from django.urls import reverse

from crm_admin.models import Deal
from tests.factories import lost_reason, make_deal, stage

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


def test_selecting_deals_and_marking_them_lost_asks_for_the_reason(admin_page):
    chosen = [make_deal(title=f"Chosen {i}", probability=20) for i in range(2)]

    admin_page.goto(reverse("admin:crm_admin_deal_changelist"))
    for deal in chosen:
        admin_page.locator(f"input.action-select[value='{deal.pk}']").check()
    admin_page.locator("select[name='action']").select_option("mark_lost")
    admin_page.get_by_role("button", name="Run").click()

    expect(admin_page.get_by_text("This applies to 2 deals.")).to_be_visible()
    admin_page.get_by_role("button", name="Apply").click()
    expect(admin_page.get_by_text("Say why the deal was lost")).to_be_visible()
    assert not Deal.objects.filter(stage__outcome="lost").exists()

    admin_page.get_by_label("Lost reason").select_option(label="Competitor")
    admin_page.get_by_role("button", name="Apply").click()
    expect(admin_page.get_by_text("2 deals marked as lost: Competitor.")).to_be_visible()
    assert Deal.objects.filter(lost_reason=lost_reason("Competitor"), probability=0).count() == 2


def test_the_mark_lost_button_asks_why_then_closes_the_deal(admin_page):
    deal = make_deal(title="Pilot", probability=40)
    admin_page.goto(reverse("admin:crm_admin_deal_change", args=[deal.pk]))
    admin_page.get_by_role("link", name="Mark lost").click()
    dialog = admin_page.locator("#dialog")
    expect(dialog.get_by_text("Mark this deal as lost?")).to_be_visible()

    dialog.get_by_role("button", name="Mark lost").click()
    expect(dialog.get_by_text("Say why the deal was lost")).to_be_visible()
    deal.refresh_from_db()
    assert deal.stage.name == "Prospecting", "no reason, no change"

    dialog.get_by_label("Lost reason").select_option(label="No budget")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(admin_page.get_by_text("The deal is marked as lost: No budget.")).to_be_visible()
    deal.refresh_from_db()
    assert (deal.stage.name, deal.lost_reason) == ("Closed-Lost", lost_reason("No budget"))
