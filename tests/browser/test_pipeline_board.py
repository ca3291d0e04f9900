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
