from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm_admin import pipeline_history
from crm_admin.deal_history import DealStageChange
from crm_admin.folding import fold
from crm_admin.management.commands.crm_seed import TAG_NAMES
from crm_admin.models import (
    NEXT_STEP_WEEK_DAYS,
    Company,
    Contact,
    ContactNote,
    Deal,
    DealNote,
    NextStepDue,
    Stage,
    Tag,
)
from tests.history_checks import stage_history_problems

pytestmark = pytest.mark.django_db

SIZES = {"companies": 8, "contacts": 60, "deals": 80, "notes": 50, "tags": 6, "owners": 3}


def seed(**overrides) -> str:
    out = StringIO()
    call_command("crm_seed", **{**SIZES, "seed": 7, **overrides}, stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    # Migrations ship some rows (stages, tags for saved filters): tests compare differences.
    models = [Company, Contact, Deal, DealNote, ContactNote, Tag]
    counts = {model.__name__: model.objects.count() for model in models}
    counts["owners"] = get_user_model().objects.filter(is_staff=True).count()
    return counts


def added_since(before: dict[str, int]) -> dict[str, int]:
    return {name: count - before[name] for name, count in row_counts().items()}


def test_seed_creates_the_requested_numbers():
    before = row_counts()
    output = seed()

    assert added_since(before) == {
        "Company": 8,
        "Contact": 60,
        "Deal": 80,
        "DealNote": 25,
        "ContactNote": 25,
        "Tag": 6,
        "owners": 3,
    }
    assert Tag.objects.filter(name__in=TAG_NAMES[:6]).count() == 6
    owners = get_user_model().objects.filter(is_staff=True)
    assert not any(owner.has_usable_password() for owner in owners)
    assert Contact.tags.through.objects.exists()
    assert Deal.tags.through.objects.exists()
    assert "Seeded" in output


def test_seeded_deals_follow_their_stage_outcome():
    seed(deals=200)

    won = Deal.objects.filter(stage__outcome=Stage.Outcome.WON)
    lost = Deal.objects.filter(stage__outcome=Stage.Outcome.LOST)
    still_open = Deal.objects.filter(stage__outcome=Stage.Outcome.OPEN)
    assert won.exists() and lost.exists() and still_open.exists()
    assert not won.exclude(probability=100).exists()
    assert not lost.exclude(probability=0).exists()
    assert not won.filter(closed_at__isnull=True).exists()
    assert not lost.filter(closed_at__isnull=True).exists()
    assert not still_open.filter(closed_at__isnull=False).exists()
    assert not still_open.filter(Q(probability=0) | Q(probability=100)).exists()
    assert not Deal.objects.filter(closed_at__lt=F("created_at")).exists()
    # Every stage gets deals, so each changelist filter has something to show.
    assert set(Deal.objects.values_list("stage", flat=True)) == set(
        Stage.objects.values_list("pk", flat=True)
    )


def test_seeded_deals_have_stage_histories_that_obey_the_rule():
    seed(deals=400)

    assert stage_history_problems() == []
    deals = Deal.objects.all()
    rows = DealStageChange.objects.all()
    assert rows.filter(from_stage__isnull=True).count() == deals.count()
    assert rows.count() > 1.5 * deals.count(), "most deals moved on from where they started"
    # Some went back a stage; some lost deals were reopened.
    assert rows.filter(to_stage__order__lt=F("from_stage__order"), to_stage__outcome="open")
    assert rows.filter(from_stage__outcome=Stage.Outcome.LOST).exists()
    # A closed deal closed when it entered its stage; only lost deals have (and all have) a
    # reason, which their move into the lost stage recorded.
    closed = deals.exclude(stage__outcome=Stage.Outcome.OPEN)
    assert not closed.exclude(closed_at=F("stage_entered_at")).exists()
    lost = deals.filter(stage__outcome=Stage.Outcome.LOST)
    assert lost.exists() and not lost.filter(lost_reason__isnull=True).exists()
    assert not deals.exclude(stage__outcome=Stage.Outcome.LOST).exclude(lost_reason=None)
    assert len(set(lost.values_list("lost_reason", flat=True))) > 2
    # Each deal was moved by its owner.
    owned = rows.filter(deal__owner__isnull=False)
    assert owned.exists() and not owned.exclude(changed_by=F("deal__owner")).exists()
    assert not rows.filter(deal__owner__isnull=True, changed_by__isnull=False).exists()
    # The dashboard has something to show for the last 90 days.
    assert any(row.left for row in pipeline_history.pipeline_velocity())
    assert any(row.reached for row in pipeline_history.pipeline_conversion())
    assert pipeline_history.lost_by_reason()


def test_seeded_histories_are_written_in_bulk():
    with CaptureQueriesContext(connection) as captured:
        seed(deals=600, notes=0)
    inserts = [q for q in captured if 'INSERT INTO "crm_admin_dealstagechange"' in q["sql"]]
    rows = DealStageChange.objects.count()
    assert rows > 600
    # One batch of deals, its history in as few INSERTs as the database's parameter limit
    # allows (SQLite's 999: 142 rows each; PostgreSQL: one).
    fields = [f for f in DealStageChange._meta.concrete_fields if not f.primary_key]
    per_statement = connection.ops.bulk_batch_size(fields, [None] * rows)
    assert len(inserts) == -(-rows // per_statement)


def test_seeded_contacts_are_owned_by_the_sales_pool():
    seed()

    pool = set(get_user_model().objects.filter(is_staff=True).values_list("pk", flat=True))
    owners = list(Contact.objects.values_list("owner", flat=True))
    assert set(owners) - {None} <= pool
    assert len(set(owners) - {None}) > 1, "the contacts are shared out"
    assert owners.count(None) < len(owners) / 2, "most contacts have an owner"


def test_open_deals_and_contacts_get_next_steps_around_today_and_closed_deals_none():
    seed(contacts=400, deals=400, notes=0)

    today = timezone.localdate()
    week_end = today + timedelta(days=NEXT_STEP_WEEK_DAYS)
    for records in (Deal.objects.filter(stage__outcome=Stage.Outcome.OPEN), Contact.objects):
        for due in NextStepDue:
            assert records.next_step_due(due).exists(), (records.model, due)
        assert records.filter(next_step_due__gt=week_end).exists(), "some later"
        assert records.exclude(next_step="").filter(next_step_due=None).exists(), "some undated"
        without = records.filter(next_step="").count()
        assert records.count() / 3 < without < records.count(), "many have none"
    closed = Deal.objects.exclude(stage__outcome=Stage.Outcome.OPEN)
    assert closed.exists()
    assert not closed.exclude(next_step="", next_step_due=None).exists()


def test_seeded_names_and_emails_are_unique_and_carry_their_folded_keys():
    seed()

    for model, source, key in ((Contact, "email", "email_key"), (Company, "name", "name_key")):
        rows = list(model.objects.values_list(source, key))
        assert all(stored == fold(value) for value, stored in rows), model
        assert len({stored for _value, stored in rows}) == len(rows), model
    assert all(stored == fold(name) for name, stored in Tag.objects.values_list("name", "name_key"))


def test_noted_contacts_were_last_contacted_no_earlier_than_their_notes():
    seed(notes=200)

    stale = Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=F("created_at"))
    assert not ContactNote.objects.filter(
        Q(contact__last_contacted_at__isnull=True)
        | Q(contact__last_contacted_at__lt=F("created_at"))
    ).exists()
    assert not DealNote.objects.filter(
        Q(deal__contact__last_contacted_at__isnull=True)
        | Q(deal__contact__last_contacted_at__lt=F("created_at"))
    ).exists()
    assert not Contact.objects.filter(stale, notes__isnull=False).exists()


def test_a_seeded_note_leaves_the_contact_status_alone():
    seed(notes=200)

    # The product has no rule moving a noted contact from New to Contacted; nor has the seed.
    assert Contact.objects.filter(status=Contact.Status.NEW, notes__isnull=False).exists()


def test_seed_keeps_history_timestamps_and_restores_auto_now():
    seed()

    assert Contact.objects.values("created_at").distinct().count() > 1
    assert Deal.objects.values("created_at").distinct().count() > 1
    assert Contact._meta.get_field("created_at").auto_now_add
    assert Deal._meta.get_field("updated_at").auto_now


def test_seed_runs_twice_on_the_same_database():
    seed()
    before = row_counts()
    seed()  # The same random seed: the same names, so uniqueness has to come from the command.

    added = added_since(before)
    assert (added["Company"], added["Contact"], added["Deal"]) == (8, 60, 80)
    # Tags and owners are a pool: the second run links to them instead of adding more.
    assert (added["Tag"], added["owners"]) == (0, 0)


def test_seed_refuses_deals_without_new_contacts():
    with pytest.raises(CommandError, match="contacts"):
        seed(contacts=0)
    assert not Deal.objects.exists()


def test_seed_without_new_companies_uses_the_existing_ones():
    existing = Company.objects.create(name="Initech", website="")

    seed(companies=0, contacts=20, deals=0, notes=0)

    at_company = Contact.objects.filter(company__isnull=False)
    assert at_company.exists()
    assert set(at_company.values_list("company", flat=True)) == {existing.pk}
    assert all(
        email.endswith("@initech.com") for email in at_company.values_list("email", flat=True)
    )


def test_seed_under_debug_leaves_debug_on(settings):
    settings.DEBUG = True

    seed(companies=2, contacts=5, deals=5, notes=4)

    assert settings.DEBUG is True
    assert Contact.objects.count() >= 5
