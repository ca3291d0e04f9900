"""The stage history (DealStageChange) and `stage_entered_at` kept by the stage-outcome rule
on the model-layer paths: plain ORM saves, the bulk services, a stage's change of outcome,
the data migration of migration 0013; time in stage and staleness in any time zone."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm_admin import services
from crm_admin.deal_history import DealStageChange
from crm_admin.models import Deal, Stage, stale_condition
from tests.factories import lost_reason, make_contact, make_deal, make_user, stage

pytestmark = pytest.mark.django_db


def rows_of(deal) -> list[tuple]:
    """(from, to, by) of the deal's history, oldest first."""
    return [
        (change.from_stage and change.from_stage.name, change.to_stage.name, change.changed_by)
        for change in DealStageChange.objects.filter(deal=deal)
        .select_related("from_stage", "to_stage", "changed_by")
        .order_by("changed_at", "id")
    ]


def test_creating_a_deal_records_its_first_stage_from_none():
    deal = make_deal(stage=stage("Negotiation"))
    assert rows_of(deal) == [(None, "Negotiation", None)]
    change = DealStageChange.objects.get(deal=deal)
    assert change.changed_at == deal.stage_entered_at
    assert abs(change.changed_at - deal.created_at) < timedelta(seconds=1)
    assert change.from_stage_entered_at is None


def test_a_save_that_keeps_the_stage_records_nothing_and_keeps_the_time_in_stage():
    deal = make_deal()
    entered = deal.stage_entered_at
    reloaded = Deal.objects.get(pk=deal.pk)
    reloaded.title, reloaded.amount = "Renamed", 5
    reloaded.save()
    reloaded.save(update_fields=["title"])
    deal.save()  # the instance that created it, saved again
    assert DealStageChange.objects.filter(deal=deal).count() == 1
    assert Deal.objects.get(pk=deal.pk).stage_entered_at == entered


def test_a_plain_save_that_moves_the_deal_records_one_row_by_its_actor():
    rep = make_user()
    deal = make_deal()
    first_entered = deal.stage_entered_at
    moved = Deal.objects.get(pk=deal.pk)
    moved.stage, moved.actor = stage("Negotiation"), rep
    moved.save(update_fields=["stage"])  # the rule's fields follow a save of the stage alone
    moved.save()  # again, in the same stage: nothing more
    assert rows_of(deal) == [(None, "Prospecting", None), ("Prospecting", "Negotiation", rep)]
    newest = DealStageChange.objects.filter(deal=deal).first()
    assert newest.from_stage_entered_at == first_entered
    assert Deal.objects.get(pk=deal.pk).stage_entered_at == newest.changed_at > first_entered


def test_moving_out_of_a_lost_stage_clears_the_lost_reason_on_each_path():
    price = lost_reason("Price")
    saved = make_deal(stage=stage("Closed-Lost"), lost_reason=price)
    bulk = make_deal(stage=stage("Closed-Lost"), lost_reason=price)
    assert DealStageChange.objects.get(deal=saved).lost_reason == price

    saved.stage = stage("Negotiation")
    saved.save()
    services.deals_move_to_stage(deals=Deal.objects.filter(pk=bulk.pk), stage=stage("Prospecting"))

    assert Deal.objects.filter(pk__in=[saved.pk, bulk.pk], lost_reason__isnull=True).count() == 2


def test_a_move_between_lost_stages_without_a_new_reason_keeps_the_old_one(settings):
    settings.CRM_REQUIRE_LOST_REASON = False
    other_lost = Stage.objects.create(name="Lost to churn", outcome=Stage.Outcome.LOST)
    deal = make_deal(stage=stage("Closed-Lost"), lost_reason=lost_reason("Timing"))
    services.deals_move_to_stage(deals=Deal.objects.filter(pk=deal.pk), stage=other_lost)
    deal.refresh_from_db()
    assert (deal.stage, deal.lost_reason) == (other_lost, lost_reason("Timing"))


def test_the_bulk_move_records_one_row_per_moved_deal_and_none_for_deals_already_there():
    rep = make_user()
    moving = [make_deal(), make_deal(stage=stage("Closed-Won"))]
    staying = make_deal(stage=stage("Negotiation"))
    entered = {d.pk: d.stage_entered_at for d in moving}

    count = services.deals_move_to_stage(
        deals=Deal.objects.all(), stage=stage("Negotiation"), actor=rep
    )

    assert count == 2
    assert rows_of(staying) == [(None, "Negotiation", None)]
    for deal in moving:
        newest = DealStageChange.objects.filter(deal=deal).first()
        assert (newest.to_stage, newest.changed_by) == (stage("Negotiation"), rep)
        assert newest.from_stage_id == deal.stage_id
        assert newest.from_stage_entered_at == entered[deal.pk]
        assert Deal.objects.get(pk=deal.pk).stage_entered_at == newest.changed_at


def test_marking_lost_records_the_reason_in_the_history():
    deal = make_deal()
    services.deals_mark_lost(deals=Deal.objects.filter(pk=deal.pk), lost_reason=lost_reason())
    newest = DealStageChange.objects.filter(deal=deal).first()
    assert (newest.to_stage.name, newest.lost_reason) == ("Closed-Lost", lost_reason())
    assert Deal.objects.get(pk=deal.pk).lost_reason == lost_reason()


def test_marking_lost_without_a_reason_is_refused_and_changes_nothing():
    deal = make_deal()
    with pytest.raises(Exception, match="Say why the deal was lost"):
        services.deals_mark_lost(deals=Deal.objects.filter(pk=deal.pk))
    with pytest.raises(Exception, match="Say why the deal was lost"):
        services.deals_move_to_stage(deals=Deal.objects.all(), stage=stage("Closed-Lost"))
    assert rows_of(deal) == [(None, "Prospecting", None)]
    assert Deal.objects.get(pk=deal.pk).stage == stage("Prospecting")


def test_reasons_can_be_made_optional(settings):
    settings.CRM_REQUIRE_LOST_REASON = False
    deal = make_deal()
    assert services.deals_mark_lost(deals=Deal.objects.filter(pk=deal.pk)) == 1
    assert DealStageChange.objects.filter(deal=deal).first().lost_reason is None


def test_a_change_of_a_stages_outcome_moves_no_deal_and_records_nothing():
    deal = make_deal(stage=stage("Negotiation"))
    entered = deal.stage_entered_at
    services.stage_change_outcome(stage=stage("Negotiation"), outcome=Stage.Outcome.WON)
    reloaded = Deal.objects.get(pk=deal.pk)
    assert (reloaded.closed_at is not None, reloaded.stage_entered_at) == (True, entered)
    assert DealStageChange.objects.filter(deal=deal).count() == 1


def bulk_move_statements(count: int, target: str, actor) -> int:
    contact = make_contact()
    deals = [
        Deal(title=f"Bulk {i}", contact=contact, stage=stage("Prospecting")) for i in range(count)
    ]
    for deal in deals:
        deal.apply_stage_outcome()
    Deal.objects.bulk_create(deals)
    DealStageChange.objects.bulk_create(deal.pending_stage_change for deal in deals)
    selected = Deal.objects.filter(pk__in=[d.pk for d in deals])
    reason = lost_reason()
    with CaptureQueriesContext(connection) as captured:
        moved = services.deals_move_to_stage(
            deals=selected, stage=stage(target), actor=actor, lost_reason=reason
        )
    assert moved == count
    assert (
        DealStageChange.objects.filter(deal__in=selected, to_stage=stage(target)).count() == count
    )
    return len(captured)


@pytest.mark.parametrize("target", ["Negotiation", "Closed-Lost"])
def test_the_bulk_move_writes_the_history_in_constant_statements(target):
    rep = make_user()
    bulk_move_statements(1, target, rep)  # the content-type lookup, once per process
    assert bulk_move_statements(3, target, rep) == bulk_move_statements(500, target, rep)


def test_a_stage_that_only_history_points_at_cannot_be_deleted():
    passing = Stage.objects.create(name="Demo given", outcome=Stage.Outcome.OPEN)
    deal = make_deal(stage=passing)
    deal.stage = stage("Negotiation")
    deal.save()
    assert not passing.deals.exists()
    with pytest.raises(ProtectedError):
        passing.delete()
    assert Stage.objects.filter(pk=passing.pk).exists()


def test_deleting_a_deal_deletes_its_history_only():
    kept, deleted = make_deal(), make_deal()
    deleted.delete()
    assert set(DealStageChange.objects.values_list("deal", flat=True)) == {kept.pk}


# Time in stage and staleness: elapsed time, the same whatever the time zone.

ENTERED = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # the night before Europe's clocks go forward


def deal_entered(at, stage_name="Negotiation"):
    deal = make_deal(stage=stage(stage_name))
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=at)
    return Deal.objects.select_related("stage").get(pk=deal.pk)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"])
def test_stale_deals_and_days_in_stage_are_the_same_in_every_time_zone(settings, zone):
    settings.TIME_ZONE = zone
    Stage.objects.filter(name="Negotiation").update(stale_after_days=3)
    Stage.objects.filter(name="Closed-Won").update(stale_after_days=3)
    now = ENTERED + timedelta(days=3, minutes=1)
    stale = deal_entered(ENTERED)
    fresh = deal_entered(ENTERED + timedelta(minutes=2))
    deal_entered(ENTERED - timedelta(days=30), "Prospecting")  # its stage never goes stale
    deal_entered(ENTERED - timedelta(days=30), "Closed-Won")  # closed deals are never stale
    with timezone.override(zone):
        found = set(Deal.objects.stale(now=now).values_list("pk", flat=True))
        assert found == {stale.pk}
        assert [stale.is_stale(now=now), fresh.is_stale(now=now)] == [True, False]
        assert [stale.days_in_stage(now=now), fresh.days_in_stage(now=now)] == [3, 2]
        in_memory = {d.pk for d in Deal.objects.select_related("stage") if d.is_stale(now=now)}
        assert in_memory == found


def test_no_stage_with_a_limit_means_no_stale_deal():
    deal_entered(ENTERED - timedelta(days=400))
    assert not Deal.objects.filter(stale_condition(now=timezone.now())).exists()


# Migration 0013 gives the deals already there a first history row.


def migrate_to(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_gives_each_existing_deal_a_first_row_at_its_creation():
    try:
        old = migrate_to([("crm_admin", "0012_my_day")])
        Stage = old.get_model("crm_admin", "Stage")
        Contact = old.get_model("crm_admin", "Contact")
        Deal = old.get_model("crm_admin", "Deal")
        contact = Contact.objects.create(first_name="Zoë", email="zoe@example.com")
        created = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        for name in ("Prospecting", "Closed-Lost", "Closed-Lost"):
            deal = Deal.objects.create(
                title=f"Ünïcode {name}", contact=contact, stage=Stage.objects.get(name=name)
            )
            Deal.objects.filter(pk=deal.pk).update(created_at=created)
        migrate_to([("crm_admin", "0013_deal_history")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    from crm_admin.models import Deal as CurrentDeal

    deals = list(CurrentDeal.objects.all())
    assert len(deals) == 3
    assert {deal.stage_entered_at for deal in deals} == {created}
    rows = DealStageChange.objects.values_list("deal", "from_stage", "to_stage", "changed_at")
    assert sorted(rows) == sorted((d.pk, None, d.stage_id, created) for d in deals)
    assert [r.name for r in lost_reason().__class__.objects.all()] == [
        "Price",
        "Competitor",
        "No budget",
        "No decision",
        "Timing",
        "Other",
    ]


def test_a_copy_saved_as_new_is_created_from_no_stage():
    original = Deal.objects.get(pk=make_deal(stage=stage("Negotiation")).pk)
    copy = original
    copy.pk = None
    copy._state.adding = True
    copy.save()
    created = DealStageChange.objects.get(deal=copy)
    assert (created.from_stage, created.from_stage_entered_at) == (None, None)
    assert created.changed_at == Deal.objects.get(pk=copy.pk).stage_entered_at


def test_a_replayed_history_chains_like_saved_moves():
    contact = make_contact()
    deal = Deal(title="Replayed", contact=contact)
    times = [ENTERED + timedelta(days=n) for n in range(4)]
    names = ["Prospecting", "Negotiation", "Closed-Lost", "Negotiation"]
    rows = deal.replay_stage_moves(
        [(stage(name), at) for name, at in zip(names, times, strict=True)],
        lost_reason=lost_reason("Timing"),
    )
    assert deal._state.adding and deal.pending_stage_change is None
    assert [(r.from_stage_id, r.to_stage_id) for r in rows] == [
        (None, stage("Prospecting").pk),
        (stage("Prospecting").pk, stage("Negotiation").pk),
        (stage("Negotiation").pk, stage("Closed-Lost").pk),
        (stage("Closed-Lost").pk, stage("Negotiation").pk),
    ]
    assert [r.from_stage_entered_at for r in rows] == [None, *times[:3]]
    assert [r.lost_reason for r in rows] == [None, None, lost_reason("Timing"), None]
    assert (deal.stage_entered_at, deal.lost_reason, deal.closed_at) == (times[3], None, None)
