"""Follow-up filters on the contact and deal lists."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm_admin.selectors import month_start
from tests.factories import make_contact, make_deal, make_user, stage

pytestmark = pytest.mark.django_db

DEALS = reverse("admin:crm_admin_deal_changelist")
CONTACTS = reverse("admin:crm_admin_contact_changelist")


def listed(client, url, **params) -> set[str]:
    response = client.get(url, params)
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def test_last_contacted_filter_is_relative_to_today(staff_client):
    now = timezone.now()
    never = make_contact(last_contacted_at=None)
    recent = make_contact(last_contacted_at=now - timedelta(days=2))
    month_ago = make_contact(last_contacted_at=now - timedelta(days=45))
    long_ago = make_contact(last_contacted_at=now - timedelta(days=120))

    assert listed(staff_client, CONTACTS, last_contacted="never") == {never.pk}
    assert listed(staff_client, CONTACTS, last_contacted="7d") == {
        never.pk,
        month_ago.pk,
        long_ago.pk,
    }
    assert listed(staff_client, CONTACTS, last_contacted="30d") == {
        never.pk,
        month_ago.pk,
        long_ago.pk,
    }
    assert listed(staff_client, CONTACTS, last_contacted="90d") == {never.pk, long_ago.pk}
    assert recent.pk in listed(staff_client, CONTACTS)


def test_contact_status_and_tag_filters(staff_client):
    from tests.factories import make_tag

    vip = make_tag(name="VIP")
    pending = make_contact(status="pending_response", tags=[vip])
    make_contact(status="pending_response")
    make_contact(tags=[vip])
    assert listed(
        staff_client, CONTACTS, status__exact="pending_response", tags__id__exact=vip.pk
    ) == {pending.pk}


def test_deal_status_filter_uses_the_stage_outcome(staff_client):
    open_deal = make_deal(stage=stage("Negotiation"))
    won = make_deal(stage=stage("Closed-Won"))
    lost = make_deal(stage=stage("Closed-Lost"))
    assert listed(staff_client, DEALS, status="open") == {open_deal.pk}
    assert listed(staff_client, DEALS, status="won") == {won.pk}
    assert listed(staff_client, DEALS, status="lost") == {lost.pk}


def test_owner_filter_has_mine_and_unassigned(staff_client, admin_user):
    other = make_user()
    mine = make_deal(owner=admin_user)
    theirs = make_deal(owner=other)
    nobody = make_deal(owner=None)
    assert listed(staff_client, DEALS, owner="mine") == {mine.pk}
    assert listed(staff_client, DEALS, owner="none") == {nobody.pk}
    assert listed(staff_client, DEALS, owner=str(other.pk)) == {theirs.pk}


def test_expected_close_filter(staff_client):
    today = timezone.localdate()
    overdue = make_deal(expected_close_date=today - timedelta(days=1))
    make_deal(expected_close_date=today - timedelta(days=1), stage=stage("Closed-Won"))
    this_month = make_deal(expected_close_date=today)
    next_month = make_deal(expected_close_date=month_start(today, 1) + timedelta(days=3))
    assert listed(staff_client, DEALS, expected_close="overdue") == {overdue.pk}
    assert this_month.pk in listed(staff_client, DEALS, expected_close="this_month")
    assert next_month.pk not in listed(staff_client, DEALS, expected_close="this_month")
    assert listed(staff_client, DEALS, expected_close="next_month") == {next_month.pk}


def test_month_start_rolls_over_the_year():
    assert month_start(date(2026, 1, 31), -1) == date(2025, 12, 1)
    assert month_start(date(2026, 12, 15), 1) == date(2027, 1, 1)
    assert month_start(date(2026, 11, 24), 2) == date(2027, 1, 1)


def test_probability_and_amount_ranges(staff_client):
    small = make_deal(amount=Decimal("500"), probability=10)
    big = make_deal(amount=Decimal("50000"), probability=80)
    assert listed(staff_client, DEALS, probability_from="50") == {big.pk}
    assert listed(staff_client, DEALS, amount_to="1000") == {small.pk}
    assert listed(staff_client, DEALS, amount_from="100", amount_to="100000") == {
        small.pk,
        big.pk,
    }


@pytest.mark.parametrize(
    "params",
    [
        {"probability_from": "lots"},
        {"amount_to": "1e999999"},
        {"owner": "someone"},
        {"last_contacted": "yesterday"},
        {"expected_close": "soon"},
    ],
)
def test_nonsense_filter_values_never_break_the_list(staff_client, params):
    make_deal()
    url = CONTACTS if "last_contacted" in params else DEALS
    assert staff_client.get(url, params).status_code == 200


def test_an_out_of_range_bound_is_ignored_with_a_message(staff_client):
    deal = make_deal(amount=Decimal("500"))
    response = staff_client.get(DEALS, {"amount_to": "1e999999", "probability_from": "x"})
    assert response.status_code == 200
    assert {d.pk for d in response.context["cl"].result_list} == {deal.pk}
    page = response.content.decode()
    assert "“1e999999” was ignored" in page and "“x” was ignored" in page


def test_an_owner_id_too_large_for_the_database_is_ignored(staff_client):
    deal = make_deal()
    assert listed(staff_client, DEALS, owner="9" * 30) == {deal.pk}
