from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import lost_reason, make_deal, stage

expect = pytest.importorskip("playwright.sync_api").expect


def test_dragging_a_card_to_closed_won_moves_the_deal_and_the_totals(admin_page):
    deal = make_deal(title="Solar retrofit", amount=Decimal("1200.00"), probability=30)
    make_deal(title="Other", amount=Decimal("800.00"), stage=stage("Closed-Won"))
    won = stage("Closed-Won")

    admin_page.goto(reverse("admin:crm_admin_deal_board"))
    won_column = admin_page.locator(f"[data-column][data-stage='{won.pk}']")
    prospecting = admin_page.locator(f"[data-column][data-stage='{stage('Prospecting').pk}']")
    expect(won_column.locator("[data-count]")).to_have_text("1")
    expect(won_column.locator("[data-value]")).to_have_text("USD 800.00")

    prospecting.locator("[data-card]", has_text="Solar retrofit").drag_to(
        won_column.locator("[data-cards]")
    )

    expect(admin_page.locator("#board-status")).to_have_text(
        "“Solar retrofit” moved to Closed-Won."
    )
    expect(won_column.locator("[data-count]")).to_have_text("2")
    expect(won_column.locator("[data-value]")).to_have_text("USD 2,000.00")
    expect(won_column.locator("[data-card]", has_text="Solar retrofit")).to_contain_text("100%")
    expect(prospecting.locator("[data-count]")).to_have_text("0")
    deal.refresh_from_db()
    assert (deal.stage, deal.probability) == (won, 100)
    assert deal.closed_at is not None


def test_a_dragged_card_drops_its_step_when_closed_and_is_marked_when_reopened(admin_page):
    from datetime import timedelta

    from django.utils import timezone

    make_deal(
        title="Harbour cranes",
        next_step="Send the quote",
        next_step_due=timezone.localdate() - timedelta(days=2),
    )
    make_deal(title="Old loss", stage=stage("Closed-Lost"))
    admin_page.goto(reverse("admin:crm_admin_deal_board"))
    column = {
        name: admin_page.locator(f"[data-column][data-stage='{stage(name).pk}']")
        for name in ("Prospecting", "Negotiation", "Closed-Won", "Closed-Lost")
    }
    card = admin_page.locator("[data-card]", has_text="Harbour cranes")
    expect(card.locator("[data-next-step]")).to_contain_text("Send the quote")
    expect(card.locator("[data-next-step]")).to_contain_text("Overdue")

    card.drag_to(column["Closed-Won"].locator("[data-cards]"))
    expect(admin_page.locator("#board-status")).to_have_text(
        "“Harbour cranes” moved to Closed-Won."
    )
    expect(card.locator("[data-next-step]")).to_have_text("")

    lost = admin_page.locator("[data-card]", has_text="Old loss")
    expect(lost.locator("[data-next-step]")).to_have_text("")
    lost.drag_to(column["Negotiation"].locator("[data-cards]"))
    expect(admin_page.locator("#board-status")).to_have_text("“Old loss” moved to Negotiation.")
    expect(lost.locator("[data-next-step]")).to_contain_text("No next step")


def test_dragging_a_card_to_closed_lost_asks_why_and_records_the_reason(admin_page):
    deal = make_deal(title="Fleet tracking", amount=Decimal("900.00"), probability=60)
    lost = stage("Closed-Lost")
    admin_page.goto(reverse("admin:crm_admin_deal_board"))
    lost_column = admin_page.locator(f"[data-column][data-stage='{lost.pk}']")
    card = admin_page.locator("[data-card]", has_text="Fleet tracking")
    dialog = admin_page.locator("#lost-reason-dialog")

    # Cancelled: nothing moves.
    card.drag_to(lost_column.locator("[data-cards]"))
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Fleet tracking")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(admin_page.locator("#board-status")).to_have_text("The deal was not moved.")
    expect(lost_column.locator("[data-card]", has_text="Fleet tracking")).to_have_count(0)
    deal.refresh_from_db()
    assert deal.stage == stage("Prospecting")

    card.drag_to(lost_column.locator("[data-cards]"))
    dialog.get_by_label("Lost reason").select_option(label="Competitor")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(admin_page.locator("#board-status")).to_have_text(
        "“Fleet tracking” moved to Closed-Lost: Competitor."
    )
    expect(lost_column.locator("[data-count]")).to_have_text("1")
    moved = lost_column.locator("[data-card]", has_text="Fleet tracking")
    expect(moved).to_contain_text("0%")
    expect(moved.locator("[data-lost-reason]")).to_have_text("Lost: Competitor")
    deal.refresh_from_db()
    assert (deal.stage, deal.probability, deal.lost_reason) == (lost, 0, lost_reason("Competitor"))
    change = deal.stage_changes.get(to_stage=lost)
    assert (change.from_stage, change.changed_by.username, change.lost_reason) == (
        stage("Prospecting"),
        "boss",
        lost_reason("Competitor"),
    )

    # The deal's page tells how it got there: its timeline, newest first, says who lost it
    # and why, and how it was created.
    admin_page.goto(reverse("admin:crm_admin_deal_change", args=[deal.pk]))
    timeline = admin_page.locator("#timeline")
    newest = timeline.locator("li").first
    expect(newest).to_have_attribute("data-kind", "lost")
    expect(newest).to_contain_text("Moved from Prospecting to Closed-Lost")
    expect(newest).to_contain_text("by boss")
    expect(newest).to_contain_text("Lost reason: Competitor")
    expect(timeline.locator("li").last).to_contain_text("Created in Prospecting.")
