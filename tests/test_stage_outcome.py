"""The stage-outcome rule (Deal.STAGE_OUTCOME_RULE) on every path; changing a stage's outcome."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin import services
from crm_admin.deal_history import DealStageChange
from crm_admin.models import Deal, OutcomeCause, Stage
from tests.factories import lost_reason, make_contact, make_deal, stage
from tests.forms import form_data

CLOSED_ON = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)

# Each case: the stage the deal starts in (a closed one dated CLOSED_ON), then steps, each with
# the close date it leaves ("closed on": CLOSED_ON, "now": stamped by this step, None: open)
# and the probability.
CASES = {
    "open to won by a move closes now": (
        "Prospecting",
        [(("move", "Closed-Won"), "now", 100)],
    ),
    "won saved again in its stage keeps the date": (
        "Closed-Won",
        [(("resave",), "closed on", 100)],
    ),
    "won to lost by a move is a new closing": (
        "Closed-Won",
        [(("move", "Closed-Lost"), "now", 0)],
    ),
    "won to open by a move reopens, keeping the probability": (
        "Closed-Won",
        [(("move", "Negotiation"), None, 100)],
    ),
    "a stage set won to open and back gives the date back": (
        "Closed-Won",
        [
            (("outcome", "Closed-Won", "open"), None, 100),
            (("resave",), None, 100),
            (("outcome", "Closed-Won", "won"), "closed on", 100),
        ],
    ),
    "a stage set won to lost keeps the date": (
        "Closed-Won",
        [(("outcome", "Closed-Won", "lost"), "closed on", 0)],
    ),
    "a stage set won to open then lost is a new closing": (
        "Closed-Won",
        [
            (("outcome", "Closed-Won", "open"), None, 100),
            (("outcome", "Closed-Won", "lost"), "now", 0),
        ],
    ),
    "an open stage set to won closes its deals now": (
        "Negotiation",
        [(("outcome", "Negotiation", "won"), "now", 100)],
    ),
    "a deal moved out of its reopened stage forgets the old date": (
        "Closed-Won",
        [
            (("outcome", "Closed-Won", "open"), None, 100),
            (("move", "Prospecting"), None, 100),
            (("move", "Closed-Won"), None, 100),
            (("outcome", "Closed-Won", "won"), "now", 100),
        ],
    ),
}


def instance_step(deal: Deal, step: tuple) -> None:
    """One deal in memory: Deal.apply_stage_outcome(), through save() for the deal's own moves."""
    kind, *args = step
    if kind == "move":
        deal.stage = stage(args[0])
        deal.lost_reason = lost_reason()  # as the form asks; kept only by a lost stage
    elif kind == "outcome":
        name, outcome = args
        changed = stage(name)
        Stage.objects.filter(pk=changed.pk).update(outcome=outcome)
        if deal.stage_id == changed.pk:
            deal.stage = stage(name)
            deal.apply_stage_outcome(outcome_was=changed.outcome)
    deal.save()


def bulk_step(deal: Deal, step: tuple) -> None:
    """The same step as an UPDATE: Deal.outcome_changes(), through the services."""
    kind, *args = step
    rows = Deal.objects.filter(pk=deal.pk)
    if kind == "move":
        services.deals_move_to_stage(deals=rows, stage=stage(args[0]), lost_reason=lost_reason())
    elif kind == "outcome":
        services.stage_change_outcome(stage=stage(args[0]), outcome=args[1])
    else:
        outcome = rows.values_list("stage__outcome", flat=True).get()
        rows.update(**Deal.outcome_changes(OutcomeCause.STAYED, outcome, at=timezone.now()))


@pytest.mark.django_db
@pytest.mark.parametrize("path", [instance_step, bulk_step], ids=["instance", "bulk"])
@pytest.mark.parametrize(("start", "steps"), CASES.values(), ids=CASES.keys())
def test_the_stage_outcome_rule_is_the_same_for_one_deal_and_in_bulk(path, start, steps):
    deal = make_deal(stage=stage(start), probability=30)
    if deal.closed_at is not None:
        Deal.objects.filter(pk=deal.pk).update(closed_at=CLOSED_ON)
        deal.refresh_from_db()
    due = timezone.localdate() + timedelta(days=3)
    for number, (step, closed, probability) in enumerate(steps, start=1):
        before = timezone.now()
        # A next step before every step: a closed result clears it, an open one keeps it.
        Deal.objects.filter(pk=deal.pk).update(next_step="Call back", next_step_due=due)
        deal.next_step, deal.next_step_due = "Call back", due
        was = Deal.objects.values("stage", "stage_entered_at").get(pk=deal.pk)
        history = DealStageChange.objects.filter(deal=deal)
        recorded = history.count()
        path(deal, step)
        saved = Deal.objects.select_related("stage", "lost_reason").get(pk=deal.pk)
        # A move enters the stage now and adds one history row; nothing else does either.
        if step[0] == "move":
            assert saved.stage_entered_at >= before, number
            assert history.count() == recorded + 1, number
            newest = history.first()
            assert (newest.from_stage_id, newest.to_stage_id) == (was["stage"], saved.stage_id)
            assert newest.from_stage_entered_at == was["stage_entered_at"], number
            assert newest.changed_at == saved.stage_entered_at, number
        else:
            assert saved.stage_entered_at == was["stage_entered_at"], number
            assert history.count() == recorded, number
        moved_into_lost = step[0] == "move" and saved.stage.outcome == Stage.Outcome.LOST
        assert saved.lost_reason == (lost_reason() if moved_into_lost else None), number
        if closed == "now":
            assert saved.closed_at is not None and saved.closed_at >= before, number
        else:
            assert saved.closed_at == (CLOSED_ON if closed == "closed on" else None), number
        assert saved.probability == probability, number
        kept = ("", None) if saved.stage.is_closed else ("Call back", due)
        assert (saved.next_step, saved.next_step_due) == kept, number


def bulk_deals(count: int, stage_name: str) -> None:
    contact = make_contact()
    Deal.objects.bulk_create(
        Deal(title=f"Bulk {i}", contact=contact, stage=stage(stage_name), probability=100)
        for i in range(count)
    )


def change_outcome_queries(admin_user, count: int) -> int:
    bulk_deals(count, "Closed-Won")
    won, in_stage = stage("Closed-Won"), Deal.objects.filter(stage__name="Closed-Won").count()
    with CaptureQueriesContext(connection) as captured:
        changed = services.stage_change_outcome(
            stage=won, outcome=Stage.Outcome.OPEN, actor=admin_user
        )
    assert changed == in_stage
    services.stage_change_outcome(stage=won, outcome=Stage.Outcome.WON, actor=admin_user)
    return len(captured)


@pytest.mark.django_db
def test_changing_a_stage_outcome_writes_each_deals_history_in_constant_statements(admin_user):
    make_deal(stage=stage("Prospecting"))
    change_outcome_queries(admin_user, 1)  # the content-type lookup, once per process
    small = change_outcome_queries(admin_user, 2)
    # Six statements and two savepoints (the service's, Stage.save's) with their releases.
    assert change_outcome_queries(admin_user, 200) == small == 10
    history = LogEntry.objects.filter(
        change_message="Outcome of stage Closed-Won changed from Won to Open."
    )
    in_stage = Deal.objects.filter(stage=stage("Closed-Won"))
    assert history.values("object_id").distinct().count() == in_stage.count() == 203
    assert not Deal.objects.filter(stage=stage("Closed-Won"), closed_at__isnull=True).exists()


@pytest.mark.django_db
def test_changing_a_stage_outcome_refuses_an_unknown_outcome():
    deal = make_deal(stage=stage("Closed-Won"))
    with pytest.raises(ValidationError, match="not a stage outcome"):
        services.stage_change_outcome(stage=stage("Closed-Won"), outcome="pending")
    assert stage("Closed-Won").outcome == Stage.Outcome.WON
    assert Deal.objects.get(pk=deal.pk).closed_at == deal.closed_at


def stage_form(client, obj, **changes) -> dict:
    url = reverse("admin:crm_admin_stage_change", args=[obj.pk])
    return form_data(client.get(url), "stage_form", **changes)


@pytest.mark.django_db
def test_the_admin_asks_before_a_change_of_outcome_moves_deals(staff_client):
    won = stage("Closed-Won")
    deal = make_deal(stage=won)
    Deal.objects.filter(pk=deal.pk).update(closed_at=CLOSED_ON)
    url = reverse("admin:crm_admin_stage_change", args=[won.pk])
    data = stage_form(staff_client, won, outcome="open")

    asked = staff_client.post(url, data)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert (
        "Changing the outcome of Closed-Won from Won to Open reopens 1 deal. "
        "Tick the box and save again to confirm."
    ) in page
    assert stage("Closed-Won").outcome == Stage.Outcome.WON
    assert Deal.objects.get(pk=deal.pk).closed_at == CLOSED_ON

    assert staff_client.post(url, {**data, "confirm_outcome_change": "on"}).status_code == 302
    assert stage("Closed-Won").outcome == Stage.Outcome.OPEN
    assert Deal.objects.get(pk=deal.pk).closed_at is None
    assert LogEntry.objects.filter(
        object_id=str(deal.pk), change_message__contains="from Won to Open"
    ).exists()

    back = stage_form(staff_client, stage("Closed-Won"), outcome="won")
    staff_client.post(url, {**back, "confirm_outcome_change": "on"})
    assert Deal.objects.get(pk=deal.pk).closed_at == CLOSED_ON


@pytest.mark.django_db
def test_the_admin_changes_the_outcome_of_a_stage_without_deals_at_once(staff_client):
    empty = Stage.objects.create(name="Demo booked")
    url = reverse("admin:crm_admin_stage_change", args=[empty.pk])
    response = staff_client.post(url, stage_form(staff_client, empty, outcome="won"))
    assert response.status_code == 302
    assert Stage.objects.get(pk=empty.pk).outcome == Stage.Outcome.WON


@pytest.mark.django_db
def test_renaming_a_stage_while_changing_its_outcome_saves_both_once(staff_client):
    empty = Stage.objects.create(name="Demo booked")
    url = reverse("admin:crm_admin_stage_change", args=[empty.pk])
    data = stage_form(staff_client, empty, outcome="won", name="Demo won")
    with CaptureQueriesContext(connection) as captured:
        assert staff_client.post(url, data).status_code == 302
    saved = Stage.objects.get(pk=empty.pk)
    assert (saved.name, saved.outcome) == ("Demo won", Stage.Outcome.WON)
    on_stage = [q["sql"] for q in captured.captured_queries if '"crm_admin_stage"' in q["sql"]]
    writes = [sql for sql in on_stage if sql.startswith("UPDATE") or "FOR UPDATE" in sql]
    # The outcome's UPDATE and the name's, and on PostgreSQL the service's and Stage.save()'s
    # row locks: no second full save of the stage (which would lock it a third time).
    assert len(writes) == (4 if connection.features.has_select_for_update else 2), writes


@pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections at once")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_stages_created_at_once_get_two_positions():
    created, release = threading.Event(), threading.Event()
    orders, errors = {}, []

    def create(name: str, hold: bool) -> None:
        try:
            with transaction.atomic():
                orders[name] = Stage.objects.create(name=name).order
                if hold:
                    created.set()
                    release.wait(timeout=30)
        except Exception as error:  # handed to the test thread below
            errors.append(error)
        finally:
            connections.close_all()

    first = threading.Thread(target=create, args=("First", True))
    first.start()
    assert created.wait(timeout=30)
    second = threading.Thread(target=create, args=("Second", False))
    second.start()
    # Let the second creation reach the point where it waits for the first to commit.
    second.join(timeout=1)
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert not errors
    assert orders["Second"] == orders["First"] + 1
    assert Stage.objects.values("order").distinct().count() == Stage.objects.count()
