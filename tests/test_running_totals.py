"""The dashboard's and the board's figures stay exact on every write path.

On PostgreSQL they read running totals that triggers keep (migration 0009); these tests write
through each path the product has and compare every figure with a sum done here in Python over
the rows themselves. On SQLite the figures are live sums, and the same tests hold.
"""

import threading
from datetime import datetime, time, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from crm_admin import selectors, services
from crm_admin.models import Contact, ContactNote, Deal, Stage
from tests.factories import lost_reason, make_contact, make_deal, stage

DATA = Path(__file__).parent / "data"
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the running totals are PostgreSQL's"
)


def rows_by_stage() -> dict[int, tuple[int, Decimal, Decimal]]:
    totals = {}
    for stage_id, amount, probability in Deal.objects.values_list(
        "stage_id", "amount", "probability"
    ):
        count, value, weighted = totals.get(stage_id, (0, Decimal(0), Decimal(0)))
        amount = amount or Decimal(0)
        totals[stage_id] = (count + 1, value + amount, weighted + amount * probability)
    return {
        pk: (count, selectors.money(value), selectors.weighted(weighted))
        for pk, (count, value, weighted) in totals.items()
    }


def rows_forecast(today) -> list:
    starts = [selectors.month_start(today, i) for i in range(7)]
    sums = [Decimal(0)] * 6
    for day, amount, probability in Deal.objects.filter(
        stage__outcome=Stage.Outcome.OPEN, expected_close_date__isnull=False
    ).values_list("expected_close_date", "amount", "probability"):
        for i in range(6):
            if starts[i] <= day < starts[i + 1]:
                sums[i] += (amount or 0) * probability
    return [(starts[i], selectors.weighted(sums[i])) for i in range(6)]


def rows_due(now) -> int:
    cutoff, today = now - timedelta(days=30), timezone.localdate(now)
    return sum(
        1
        for at, step, due in Contact.objects.values_list(
            "last_contacted_at", "next_step", "next_step_due"
        )
        if (due is not None and due <= today) or (not step and (at is None or at < cutoff))
    )


def rows_closed(spans) -> list:
    figures = [{o: (0, Decimal(0)) for o in (Stage.Outcome.WON, Stage.Outcome.LOST)} for _ in spans]
    for at, outcome, amount in Deal.objects.filter(closed_at__isnull=False).values_list(
        "closed_at", "stage__outcome", "amount"
    ):
        for i, (start, end) in enumerate(spans):
            if outcome in figures[i] and start <= at and (end is None or at < end):
                count, value = figures[i][outcome]
                figures[i][outcome] = (count + 1, value + (amount or 0))
    return [{o: (n, selectors.money(v)) for o, (n, v) in row.items()} for row in figures]


def closed_spans(now) -> list:
    """Spans of whole and partial UTC days, one shorter than a day and one open-ended."""
    return [
        (now - timedelta(days=40, hours=5), now - timedelta(days=2, minutes=7)),
        (now - timedelta(hours=3), now - timedelta(hours=1)),
        (now - timedelta(days=3, seconds=1), None),
        (selectors.current_month_start(now=now), None),
    ]


def assert_figures_exact(now=None):
    now = now or timezone.now()
    by_stage = rows_by_stage()
    assert selectors.board_totals(Deal.objects.all()) == by_stage
    empty = (0, Decimal("0.00"), Decimal("0.00"))
    assert [(r.stage.pk, r.value, r.weighted) for r in selectors.pipeline_value_by_stage()] == [
        (s.pk, by_stage.get(s.pk, empty)[1], by_stage.get(s.pk, empty)[2])
        for s in Stage.objects.filter(outcome=Stage.Outcome.OPEN).order_by("order", "id")
    ]
    assert selectors.forecast_by_month(today=timezone.localdate(now)) == rows_forecast(
        timezone.localdate(now)
    )
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now)
    spans = closed_spans(now)
    assert selectors.closed_deals_by_span(spans) == rows_closed(spans)


def open_stage(name: str) -> Stage:
    # A transactional test's database starts empty: no stages from migration 0002.
    return Stage.objects.get_or_create(name=name, defaults={"outcome": Stage.Outcome.OPEN})[0]


def seed_deals(count: int, **fields) -> list[Deal]:
    contact = make_contact()
    today = timezone.localdate()
    return Deal.objects.bulk_create(
        Deal(
            title=f"Seeded {i}",
            contact=contact,
            stage=fields.get("stage") or open_stage("Prospecting"),
            amount=None if i % 7 == 0 else Decimal(f"{1000 + i}.{i % 100:02d}"),
            probability=(i * 13) % 101,
            expected_close_date=None if i % 5 == 0 else today + timedelta(days=(i * 11) % 200),
        )
        for i in range(count)
    )


@pytest.mark.django_db
def test_every_write_path_keeps_the_figures_exact(staff_client, admin_user):
    deals = seed_deals(40)  # bulk_create
    assert_figures_exact()
    make_deal(amount=Decimal("12.34"), probability=33)  # save()
    assert_figures_exact()

    negotiation, won, lost = stage("Negotiation"), stage("Closed-Won"), stage("Closed-Lost")
    services.deals_move_to_stage(deals=Deal.objects.filter(pk__lt=deals[10].pk), stage=negotiation)
    assert_figures_exact()
    services.deals_mark_won(deals=Deal.objects.filter(pk__in=[d.pk for d in deals[10:15]]))
    services.deals_mark_lost(
        deals=Deal.objects.filter(pk__in=[d.pk for d in deals[15:20]]), lost_reason=lost_reason()
    )
    assert_figures_exact()

    response = staff_client.post(
        reverse("admin:crm_admin_deal_move", args=[deals[20].pk]), {"stage": won.pk}
    )
    assert response.status_code == 302
    assert_figures_exact()

    services.stage_change_outcome(stage=won, outcome=Stage.Outcome.OPEN)  # reopens its deals
    assert_figures_exact()
    lost.outcome = Stage.Outcome.OPEN
    lost.save()  # plain ORM save of a stage's outcome
    assert_figures_exact()

    for deal in deals[21:30]:
        deal.amount, deal.probability = Decimal("99.99"), 71
    Deal.objects.bulk_update(deals[21:30], ["amount", "probability"])
    Deal.objects.filter(pk__in=[d.pk for d in deals[30:35]]).update(expected_close_date=None)
    assert_figures_exact()

    Deal.objects.filter(pk__in=[d.pk for d in deals[35:]]).delete()
    deals[0].delete()
    assert_figures_exact()

    out = StringIO()
    make_contact(email="ann.lee@example.com")
    make_contact(email="bob@example.com")
    make_contact(email="carla@example.com")
    call_command("crm_import", "contacts", str(DATA / "contacts.csv"), stdout=out, stderr=out)
    assert_figures_exact()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE crm_admin_deal SET amount = amount * 3, probability = 5")
    assert_figures_exact()


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
def test_closed_deal_figures_count_whole_and_partial_days_exactly(settings, zone):
    settings.TIME_ZONE = zone
    now = timezone.now()
    won, lost = stage("Closed-Won"), stage("Closed-Lost")
    contact = make_contact()
    # Every 5h 17min over 50 days: deals on both sides of every span's ends and of midnights.
    deals = Deal.objects.bulk_create(
        Deal(
            title=f"Closed {i}",
            contact=contact,
            stage=won if i % 3 else lost,
            amount=None if i % 11 == 0 else Decimal(f"{500 + i}.{i % 100:02d}"),
            closed_at=now - timedelta(minutes=317 * i),
        )
        for i in range(230)
    )
    assert_figures_exact(now)
    spans = closed_spans(now)
    assert selectors.closed_deals_by_span(spans) == rows_closed(spans)
    assert sum(row[Stage.Outcome.WON][0] for row in rows_closed(spans)) > 100

    services.deals_move_to_stage(
        deals=Deal.objects.filter(pk__in=[d.pk for d in deals[::4]]), stage=stage("Negotiation")
    )  # reopened: no longer closed
    Deal.objects.filter(pk__in=[d.pk for d in deals[1::5]]).update(amount=Decimal("3.21"))
    Deal.objects.filter(pk__in=[d.pk for d in deals[2::7]]).delete()
    assert selectors.closed_deals_by_span(spans) == rows_closed(spans)
    today = timezone.localdate(now)
    starts = [selectors.month_start(today, i - 5) for i in range(7)]
    midnights = [timezone.make_aware(datetime.combine(day, time.min)) for day in starts]
    by_month = rows_closed([(midnights[i], midnights[i + 1]) for i in range(6)])
    assert selectors.won_lost_by_month(today=today) == [
        (starts[i], row[Stage.Outcome.WON][0], row[Stage.Outcome.LOST][0])
        for i, row in enumerate(by_month)
    ]


@pytest.mark.django_db
def test_contacts_due_follow_up_count_follows_every_contact_write():
    now = timezone.now()
    old, recent = now - timedelta(days=60), now - timedelta(days=3)
    contacts = [make_contact(last_contacted_at=at) for at in (None, old, recent, old, None)]
    # Either side of the cutoff by a second: the cutoff's own day is counted row by row.
    make_contact(last_contacted_at=now - timedelta(days=30, seconds=1))
    make_contact(last_contacted_at=now - timedelta(days=30) + timedelta(seconds=1))
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 5
    ContactNote.objects.create(contact=contacts[0], text="Called")  # moves last contact on
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 4
    Contact.objects.filter(pk=contacts[1].pk).update(last_contacted_at=None)
    contacts[3].delete()
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 3
    # A next step takes a contact out of the old-contact rule and counts by its own date.
    today = timezone.localdate(now)
    services.next_steps_set(rows=Contact.objects.filter(pk=contacts[4].pk), text="Call")
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 2
    services.next_steps_set(
        rows=Contact.objects.filter(pk__in=[contacts[2].pk, contacts[4].pk]), text="Call", due=today
    )
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 4
    Contact.objects.filter(pk=contacts[2].pk).update(next_step_due=today + timedelta(days=1))
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 3
    services.next_steps_set(rows=Contact.objects.filter(pk=contacts[2].pk), text="")
    assert selectors.contacts_due_follow_up_count(now=now) == rows_due(now) == 3


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_writers_neither_wait_nor_lose_a_change():
    prospecting, negotiation = open_stage("Prospecting"), open_stage("Negotiation")
    ids = [deal.pk for deal in seed_deals(10)]
    # One key (stage, expected close date) for all: both writers change its totals.
    Deal.objects.update(expected_close_date=timezone.localdate())
    held_open, other_done = threading.Event(), threading.Event()
    errors = []

    def slow_writer():
        try:
            with transaction.atomic():
                Deal.objects.filter(pk__in=ids[:5]).update(amount=Decimal("5.55"))
                held_open.set()
                # The other writer must finish while this transaction holds the key's totals.
                assert other_done.wait(timeout=30)
        except Exception as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert held_open.wait(timeout=30)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
        seed_deals(7, stage=prospecting)
        Deal.objects.filter(pk__in=ids[5:]).update(stage=negotiation, probability=90)
    other_done.set()
    thread.join()
    assert errors == []
    assert_figures_exact()

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_admin_deal CASCADE")
    assert selectors.board_totals(Deal.objects.all()) == {}


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_sums_the_deals_already_there():
    deals = seed_deals(25)
    services.deals_mark_won(deals=Deal.objects.filter(pk__in=[d.pk for d in deals[:6]]))
    make_contact(last_contacted_at=timezone.now() - timedelta(days=90))
    executor = MigrationExecutor(connection)
    executor.migrate([("crm_admin", "0008_stage_outcome_history")])
    Deal.objects.filter(expected_close_date=None).update(amount=Decimal("7.77"))  # no triggers
    Deal.objects.filter(pk=deals[0].pk).update(closed_at=timezone.now() - timedelta(days=2))
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert_figures_exact()
