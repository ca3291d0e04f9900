from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import make_deal, stage

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
