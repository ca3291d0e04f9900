"""Money: sums exact to the cent on both databases, and one way of showing an amount."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F, Value
from django.urls import reverse
from django.utils import timezone

from crm_admin import selectors
from crm_admin.formats import format_money
from crm_admin.models import Deal
from tests.factories import make_contact, make_deal, stage

pytestmark = pytest.mark.django_db

LARGEST = Decimal("9999999999.99")  # the largest amount the column holds
# 999 x LARGEST + 0.02: as doubles (SQLite's SUM of decimals) this comes out ...990.21.
TOTAL = Decimal("9989999999990.03")
# (999 x LARGEST x 37 + 0.02 x 37) / 100, whose double sum is off by 3.81 before the division.
WEIGHTED = Decimal("3696299999996.31")


def large_deals(stage_name: str, **fields) -> list[Deal]:
    contact = make_contact()
    amounts = [LARGEST] * 999 + [Decimal("0.02")]
    return Deal.objects.bulk_create(
        Deal(
            title=f"Big {i}",
            contact=contact,
            stage=stage(stage_name),
            amount=amount,
            probability=37,
            expected_close_date=timezone.localdate(),
            **fields,
        )
        for i, amount in enumerate(amounts)
    )


def test_open_pipeline_sums_are_exact_to_the_cent():
    large_deals("Negotiation")
    (prospecting, negotiation) = selectors.pipeline_value_by_stage()
    assert (negotiation.value, negotiation.weighted) == (TOTAL, WEIGHTED)
    assert (prospecting.value, prospecting.weighted) == (Decimal("0.00"), Decimal("0.00"))
    figures = selectors.pipeline_figures()
    assert (figures.open_value, figures.weighted_forecast) == (TOTAL, WEIGHTED)
    assert selectors.forecast_by_month()[0][1] == WEIGHTED


def test_won_this_month_value_is_exact_to_the_cent():
    large_deals("Closed-Won", closed_at=timezone.now())
    figures = selectors.pipeline_figures()
    assert (figures.won_this_month_count, figures.won_this_month_value) == (1000, TOTAL)


def test_board_totals_are_exact_to_the_cent(staff_client):
    large_deals("Negotiation")
    negotiation = stage("Negotiation")
    assert selectors.board_totals(Deal.objects.all()) == {negotiation.pk: (1000, TOTAL, WEIGHTED)}
    page = staff_client.get(reverse("admin:crm_admin_deal_board")).content.decode()
    assert "USD 9,989,999,999,990.03" in page and "USD 3,696,299,999,996.31" in page


def test_an_exact_sum_past_64_bit_integers_does_not_overflow():
    # 10,000 rows of 9,999,999,999,990 are 9.99e21 cents: more than a 64-bit integer holds.
    contact = make_contact()
    Deal.objects.bulk_create(
        Deal(title=f"D{i}", contact=contact, stage=stage("Negotiation"), amount=LARGEST)
        for i in range(10_000)
    )
    total = Deal.objects.aggregate(total=selectors.ExactSum(F("amount") * Value(1000)))["total"]
    assert total == Decimal("99999999999900000.00")


def test_an_exact_sum_of_no_rows_is_none_and_money_reads_it_as_zero():
    total = Deal.objects.aggregate(total=selectors.ExactSum("amount"))["total"]
    assert total is None
    assert selectors.money(total) == Decimal("0.00")


def test_format_money_with_and_without_currency(settings):
    settings.CRM_CURRENCY = "EUR"
    assert format_money(Decimal("12500")) == "EUR 12,500.00"
    assert format_money(Decimal("0.5"), currency=False) == "0.50"
    assert format_money(None) == "-"


def test_every_screen_shows_amounts_the_same_way(staff_client, admin_user, settings):
    # Whatever the language: Django's floatformat would write 1.234.567,50 in German.
    settings.LANGUAGE_CODE = "de"
    deal = make_deal(
        title="Formatted",
        amount=Decimal("1234567.5"),
        owner=admin_user,
        expected_close_date=timezone.localdate() + timedelta(days=1),
    )
    make_deal(title="No amount", amount=None, owner=admin_user)
    dashboard = staff_client.get(reverse("admin:index")).content.decode()
    assert "<td>USD 1,234,567.50</td>" in dashboard  # "my open deals closing soonest"
    deal_list = staff_client.get(reverse("admin:crm_admin_deal_changelist"))
    assert deal_list.context["cl"].model_admin.display_amount(deal) == "1,234,567.50"
    assert "1,234,567.50" in deal_list.content.decode()
    board = staff_client.get(reverse("admin:crm_admin_deal_board")).content.decode()
    assert "<span>1,234,567.50</span>" in board
    assert "<span>-</span>" in board
