"""Next steps: the due buckets, the closing rule's other half (a closed deal has none), the bulk
service, My day and the follow-ups due definition, at a fixed "today"."""

from datetime import date, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm_admin import selectors, services
from crm_admin.models import Contact, Deal, NextStepDue
from tests.factories import make_contact, make_deal, make_user, stage

pytestmark = pytest.mark.django_db

# A Monday at the end of a month: "this week" runs into the next month.
TODAY = date(2026, 11, 30)


def dated(**days_from_today) -> dict:
    return {name: TODAY + timedelta(days=n) for name, n in days_from_today.items()}


def test_a_due_date_needs_a_step():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_contact(next_step="", next_step_due=TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_deal(next_step="", next_step_due=TODAY)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_each_bucket_at_a_fixed_today_across_a_month_end(settings, zone):
    settings.TIME_ZONE = zone
    owner = make_user()
    days = {"late": -1, "today": 0, "tomorrow": 1, "next_month": 7, "too_far": 8}
    deals = {
        name: make_deal(owner=owner, next_step=name, next_step_due=TODAY + timedelta(days=n))
        for name, n in days.items()
    }
    deals["none"] = make_deal(owner=owner)
    won = make_deal(owner=owner, stage=stage("Closed-Won"))  # closed: no next step, no bucket

    def names(due):
        return {d.next_step or "none" for d in Deal.objects.next_step_due(due, today=TODAY)}

    assert names(NextStepDue.OVERDUE) == {"late"}
    assert names(NextStepDue.TODAY) == {"today"}
    assert names(NextStepDue.THIS_WEEK) == {"tomorrow", "next_month"}
    assert names(NextStepDue.NONE) == {"none"}
    assert won.pk not in Deal.objects.next_step_due(NextStepDue.NONE, today=TODAY).values_list(
        "pk", flat=True
    )
    contact = make_contact(next_step="Call", next_step_due=TODAY)
    assert list(Contact.objects.next_step_due(NextStepDue.TODAY, today=TODAY)) == [contact]


def test_closing_a_deal_by_save_clears_its_next_step():
    deal = make_deal(next_step="Send the quote", next_step_due=TODAY)
    deal.stage = stage("Closed-Lost")
    deal.save(update_fields=["stage"])
    deal.refresh_from_db()
    assert (deal.next_step, deal.next_step_due) == ("", None)


def test_the_bulk_service_sets_and_clears_in_constant_statements(admin_user):
    open_deals = [make_deal() for _ in range(3)]
    closed = make_deal(stage=stage("Closed-Won"))
    rows = Deal.objects.filter(pk__in=[d.pk for d in [*open_deals, closed]])
    ContentType.objects.get_for_model(Deal)  # cached from then on, as in a running server
    with CaptureQueriesContext(transaction.get_connection()) as few:
        changed = services.next_steps_set(
            rows=rows, text="  Call back ", due=TODAY, actor=admin_user
        )
    assert changed == 3  # the closed deal has no next step
    assert set(rows.values_list("next_step", "next_step_due")) == {
        ("Call back", TODAY),
        ("", None),
    }
    assert LogEntry.objects.filter(change_message__contains="Call back").count() == 3
    more = [make_deal() for _ in range(20)]
    rows = Deal.objects.filter(pk__in=[d.pk for d in more])
    with CaptureQueriesContext(transaction.get_connection()) as many:
        assert services.next_steps_set(rows=rows, text="Demo", actor=admin_user) == 20
    assert len(few) == len(many)
    assert services.next_steps_set(rows=rows, text="", actor=admin_user) == 20
    assert not rows.exclude(next_step="").exists()


def test_the_bulk_service_refuses_a_date_without_a_step_and_a_long_step():
    contact = make_contact()
    rows = Contact.objects.filter(pk=contact.pk)
    with pytest.raises(ValidationError):
        services.next_steps_set(rows=rows, text=" ", due=TODAY)
    with pytest.raises(ValidationError):
        services.next_steps_set(rows=rows, text="x" * 201)
    contact.refresh_from_db()
    assert contact.next_step == ""


def test_my_day_shows_only_the_users_own_records_soonest_first():
    rep, other = make_user(), make_user()
    mine = make_deal(owner=rep, next_step="Quote", next_step_due=TODAY - timedelta(days=2))
    make_deal(owner=other, next_step="Not mine", next_step_due=TODAY)
    friend = make_contact(owner=rep, next_step="Lunch", next_step_due=TODAY)
    later = make_contact(owner=rep, next_step="Visit", next_step_due=TODAY + timedelta(days=3))
    make_contact(owner=other, next_step="Not mine", next_step_due=TODAY)
    make_deal(owner=rep)  # open, no next step
    make_deal(owner=rep, stage=stage("Closed-Won"))  # closed: not counted as missing a step
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        day = selectors.my_day(user=rep, today=TODAY)
    assert len(queries) == 5
    assert [item.record for item in day.now] == [mine, friend]
    assert [item.record for item in day.week] == [later]
    assert day.counts["deal", NextStepDue.OVERDUE] == 1
    assert day.counts["deal", NextStepDue.NONE] == 1
    assert day.counts["contact", NextStepDue.TODAY] == 1
    assert day.counts["contact", NextStepDue.THIS_WEEK] == 1


def test_follow_ups_due_are_due_steps_or_no_step_and_not_contacted(settings):
    settings.CRM_FOLLOW_UP_DAYS = 30
    now = timezone.make_aware(datetime.combine(TODAY, datetime.min.time())) + timedelta(hours=9)
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    due_step = make_contact(last_contacted_at=recent, next_step="Call", next_step_due=TODAY)
    make_contact(last_contacted_at=old, next_step="Later", next_step_due=TODAY + timedelta(1))
    make_contact(last_contacted_at=old, next_step="Undated")
    never = make_contact()
    stale = make_contact(last_contacted_at=old)
    make_contact(last_contacted_at=recent)
    expected = {due_step, never, stale}
    assert set(selectors.contacts_due_follow_up(now=now)) == expected
    assert selectors.contacts_due_follow_up_count(now=now) == 3
    assert selectors.follow_ups_due(now=now) == [due_step, never, stale]
