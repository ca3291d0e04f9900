"""Merging duplicates (crm_admin.merging): nothing is lost, the choices are applied, the
history is written on both sides, refusals write nothing, a database error midway undoes
everything, and the queries do not grow with the rows moved."""

from datetime import date, timedelta

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.utils import timezone

from crm_admin import merging, services
from crm_admin.deal_history import DealStageChange
from crm_admin.folding import fold
from crm_admin.matching import person_name_key, phone_key
from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote, MergedRecord
from crm_admin.search import CONTACT_SEARCH_FIELDS, search_queryset
from crm_admin.timeline import TimelineKind, company_timeline, contact_timeline
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user, stage
from tests.test_running_totals import assert_figures_exact

pytestmark = pytest.mark.django_db

# Every field a merged contact's snapshot keeps: its columns (the derived keys aside), and
# the names of its company, owner and tags.
CONTACT_SNAPSHOT_FIELDS = {
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "status",
    "last_contacted_at",
    "company_id",
    "owner_id",
    "next_step",
    "next_step_due",
    "created_at",
    "updated_at",
    "company",
    "owner",
    "tags",
}


def history(record) -> list[tuple[int, str, int, str]]:
    """The admin history entries of `record` (by its id now), oldest first."""
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(record), object_id=str(record.pk)
        )
        .order_by("pk")
        .values_list("action_flag", "object_repr", "user_id", "change_message")
    )


def log(record, user, message: str, flag=CHANGE) -> None:
    LogEntry.objects.log_actions(user.pk, [record], flag, message, single_object=True)


def at(days_ago: int):
    return timezone.now() - timedelta(days=days_ago)


@pytest.fixture
def actor(db):
    return make_user(username="merger")


@pytest.fixture
def records(actor):
    """Three near-duplicate contacts carrying every kind of related data, and a fourth
    merged into the second earlier."""
    acme, other = make_company(name="Acme"), make_company(name="Other Co")
    rep, boss = make_user(username="rep"), make_user(username="boss")
    red, blue, green, grey = (make_tag(name=n) for n in ("Red", "Blue", "Green", "Grey"))
    ann = make_contact(
        first_name="Ann", last_name="Lee", email="ann@acme.com", company=acme, tags=[red, blue]
    )
    anne = make_contact(
        first_name="Anne",
        last_name="Lee",
        email="anne.lee@acme.com",
        phone="",
        title="CTO",
        company=acme,
        owner=rep,
        status=Contact.Status.IN_DISCUSSION,
        next_step="Send the contract",
        next_step_due=date(2031, 5, 4),
        tags=[blue, green],
    )
    lee = make_contact(
        first_name="A.",
        last_name="Lee",
        email="a.lee@other.example",
        phone="+1 415 555 0100",
        company=other,
        owner=boss,
        tags=[grey],
    )
    old = make_contact(first_name="Ann", last_name="Lee", email="old.ann@acme.com")
    deals = {
        "ann": make_deal(contact=ann, title="Ann's deal"),
        "anne": make_deal(contact=anne, title="Anne's deal"),
        "anne2": make_deal(contact=anne, title="Anne's second deal"),
        "lee": make_deal(contact=lee, title="Lee's deal"),
        "old": make_deal(contact=old, title="Old deal"),
    }
    services.deals_move_to_stage(
        deals=Deal.objects.filter(pk=deals["anne"].pk), stage=stage("Negotiation"), actor=actor
    )
    DealNote.objects.create(deal=deals["anne"], text="Quote sent", created_by=actor)
    for contact, text in ((ann, "Met Ann"), (anne, "Called Anne"), (lee, "Mailed Lee")):
        ContactNote.objects.create(contact=contact, text=text, created_by=actor)
    ContactNote.objects.create(contact=old, text="Old note")
    log(anne, actor, "Added.", ADDITION)
    log(lee, actor, "Changed phone.")
    contacted = {"ann": at(30), "anne": at(2), "lee": at(9), "old": at(1)}
    created = {"ann": at(50), "anne": at(60), "lee": at(40), "old": at(70)}
    for name, contact in (("ann", ann), ("anne", anne), ("lee", lee), ("old", old)):
        Contact.objects.filter(pk=contact.pk).update(
            last_contacted_at=contacted[name], created_at=created[name]
        )
    # An earlier merge into Anne: its row must follow Anne into the survivor.
    merging.contacts_merge(
        survivor=Contact.objects.get(pk=anne.pk), others=[Contact.objects.get(pk=old.pk)]
    )
    return {
        "ann": Contact.objects.get(pk=ann.pk),
        "anne": Contact.objects.get(pk=anne.pk),
        "lee": Contact.objects.get(pk=lee.pk),
        "old_id": old.pk,
        "deals": deals,
        "tags": (red, blue, green, grey),
        "users": (rep, boss),
        "contacted": contacted,
        "created": created,
    }


def test_contact_merge_moves_every_related_row(records, actor):
    ann, anne, lee = records["ann"], records["anne"], records["lee"]
    history_counts = {
        deal.pk: DealStageChange.objects.filter(deal=deal).count()
        for deal in records["deals"].values()
    }
    notes = set(ContactNote.objects.values_list("pk", flat=True))
    anne_history, lee_history = history(anne), history(lee)

    kept = merging.contacts_merge(survivor=ann, others=[anne, lee], actor=actor)

    assert kept.pk == ann.pk
    assert not Contact.objects.filter(pk__in=[anne.pk, lee.pk]).exists()
    # Deals, with their stage history and notes.
    assert set(Deal.objects.values_list("contact_id", flat=True)) == {ann.pk}
    assert Deal.objects.count() == len(records["deals"])
    for deal_id, count in history_counts.items():
        assert DealStageChange.objects.filter(deal_id=deal_id).count() == count
    assert DealNote.objects.get(text="Quote sent").deal_id == records["deals"]["anne"].pk
    # Contact notes.
    assert set(ContactNote.objects.values_list("pk", flat=True)) == notes
    assert set(ContactNote.objects.values_list("contact_id", flat=True)) == {ann.pk}
    # Tags: the union, each linked once.
    assert set(kept.tags.all()) == set(records["tags"])
    assert Contact.tags.through.objects.filter(contact=kept).count() == 4
    # Merged records: the two merged now and the earlier one merged into Anne.
    merged = MergedRecord.objects.filter(contact=kept)
    assert set(merged.values_list("merged_id", flat=True)) == {
        anne.pk,
        lee.pk,
        records["old_id"],
    }
    assert MergedRecord.objects.count() == 3
    # The merged contacts' history now belongs to the survivor, before what the merge wrote.
    entries = history(kept)
    assert entries[: len(anne_history) + len(lee_history)] == anne_history + lee_history
    assert [flag for flag, *_rest in entries[-2:]] == [CHANGE, CHANGE]


def test_contact_merge_applies_the_values_chosen_field_by_field(records, actor):
    ann, anne, lee = records["ann"], records["anne"], records["lee"]
    _rep, boss = records["users"]
    kept = merging.contacts_merge(
        survivor=ann,
        others=[anne, lee],
        values={
            "name": anne.pk,
            "email": anne.pk,
            "phone": lee.pk,
            "title": anne.pk,
            "company": lee.pk,
            "owner": lee.pk,
            "status": anne.pk,
            "next_step": anne.pk,
        },
        actor=actor,
    )
    kept = Contact.objects.get(pk=kept.pk)
    assert (kept.first_name, kept.last_name, kept.email) == ("Anne", "Lee", "anne.lee@acme.com")
    assert (kept.phone, kept.title, kept.status) == ("+1 415 555 0100", "CTO", "in_discussion")
    assert (kept.company.name, kept.owner) == ("Other Co", boss)
    assert (kept.next_step, kept.next_step_due) == ("Send the contract", date(2031, 5, 4))
    # The keys follow the values kept.
    assert kept.email_key == fold("anne.lee@acme.com")
    assert kept.phone_key == phone_key("+1 415 555 0100")
    assert kept.name_match_key == person_name_key("Anne", "Lee")
    # The latest last contact and the earliest creation: those of the contact merged into
    # Anne before, which Anne took then.
    assert kept.last_contacted_at == records["contacted"]["old"]
    assert kept.created_at == records["created"]["old"]


def test_contact_merge_keeps_the_survivors_values_and_the_later_last_contact(records, actor):
    ann, lee = records["ann"], records["lee"]
    kept = merging.contacts_merge(survivor=ann, others=[lee], actor=actor)
    kept = Contact.objects.get(pk=kept.pk)
    assert (kept.first_name, kept.email, kept.phone) == ("Ann", "ann@acme.com", "")
    assert (kept.company.name, kept.owner) == ("Acme", None)
    # Ann was contacted 30 days ago, Lee 9: Lee's is kept.
    assert kept.last_contacted_at == records["contacted"]["lee"]
    assert kept.created_at == records["created"]["ann"]


def test_contact_merge_keeps_the_survivors_later_last_contact(actor):
    recent, stale, never = make_contact(), make_contact(), make_contact()
    Contact.objects.filter(pk=recent.pk).update(last_contacted_at=at(1))
    Contact.objects.filter(pk=stale.pk).update(last_contacted_at=at(20))
    recent.refresh_from_db()
    kept = merging.contacts_merge(survivor=recent, others=[stale, never], actor=actor)
    assert Contact.objects.get(pk=kept.pk).last_contacted_at == recent.last_contacted_at


def test_merged_record_keeps_every_value_and_the_history_says_so(records, actor):
    ann, anne = records["ann"], records["anne"]
    rep, _boss = records["users"]
    anne_label = str(anne)
    kept = merging.contacts_merge(survivor=ann, others=[anne], actor=actor)

    row = MergedRecord.objects.get(merged_id=anne.pk)
    assert (row.kind, row.contact_id, row.label, row.merged_by) == (
        "contact",
        kept.pk,
        anne_label,
        actor,
    )
    assert (row.email, row.email_key) == ("anne.lee@acme.com", "anne.lee@acme.com")
    assert set(row.values) == CONTACT_SNAPSHOT_FIELDS
    assert row.values["id"] == anne.pk
    assert row.values["title"] == "CTO"
    assert row.values["status"] == "in_discussion"
    assert row.values["next_step"] == "Send the contract"
    assert row.values["next_step_due"] == "2031-05-04"
    assert row.values["owner_id"] == rep.pk and row.values["owner"] == "rep"
    assert row.values["company"] == "Acme"
    assert row.values["tags"] == ["Blue", "Green"]
    assert row.values["created_at"] == anne.created_at.isoformat()

    kept_label = str(Contact.objects.get(pk=kept.pk))
    assert history(kept)[-1] == (
        CHANGE,
        kept_label,
        actor.pk,
        f"Merged {anne_label} into this contact.",
    )
    assert history(anne)[-1:] == [
        (DELETION, anne_label, actor.pk, f"Merged into {kept_label} (#{kept.pk}).")
    ]


def test_company_merge_moves_contacts_merges_and_history(actor):
    acme = make_company(name="Acme Inc.", website="https://acme.com", industry="")
    acme2 = make_company(name="ACME, Inc", website="", industry="Hardware")
    acme3 = make_company(name="Acme GmbH", website="https://acme.de")
    contacts = [make_contact(company=c) for c in (acme, acme2, acme2, acme3)]
    deal = make_deal(contact=contacts[1])
    older = make_company(name="Acme Old")
    merging.companies_merge(survivor=acme2, others=[older])
    log(acme3, actor, "Changed website.")
    Company.objects.filter(pk=acme3.pk).update(created_at=at(100))
    oldest = Company.objects.get(pk=acme3.pk).created_at
    acme3_history = history(acme3)

    kept = merging.companies_merge(
        survivor=acme,
        others=[acme2, acme3],
        values={"name": acme2.pk, "industry": acme2.pk},
        actor=actor,
    )
    kept = Company.objects.get(pk=kept.pk)
    assert (kept.name, kept.industry, kept.website) == ("ACME, Inc", "Hardware", "https://acme.com")
    assert kept.name_key == fold("ACME, Inc")
    assert kept.created_at == oldest
    assert set(Contact.objects.values_list("company_id", flat=True)) == {kept.pk}
    assert Contact.objects.count() == 4
    assert Deal.objects.get(pk=deal.pk).contact_id == contacts[1].pk
    assert set(MergedRecord.objects.filter(company=kept).values_list("merged_id", flat=True)) == {
        acme2.pk,
        acme3.pk,
        older.pk,
    }
    snapshot = MergedRecord.objects.get(merged_id=acme3.pk)
    assert snapshot.kind == "company" and snapshot.email == ""
    assert set(snapshot.values) == {"id", "name", "industry", "website", "created_at", "updated_at"}
    assert snapshot.values["website"] == "https://acme.de"
    entries = history(kept)
    assert entries[: len(acme3_history)] == acme3_history
    assert entries[-2:] == [
        (CHANGE, "ACME, Inc", actor.pk, "Merged ACME, Inc into this company."),
        (CHANGE, "ACME, Inc", actor.pk, "Merged Acme GmbH into this company."),
    ]
    assert not Company.objects.filter(pk__in=[acme2.pk, acme3.pk]).exists()


def test_merged_email_finds_the_survivor_in_a_contact_search(records, actor):
    ann, anne = records["ann"], records["anne"]
    merging.contacts_merge(survivor=ann, others=[anne], actor=actor)
    contacts = Contact.objects.all()
    for term in ("ANNE.lee@acme.com", "old.ann@acme.com"):
        assert list(search_queryset(contacts, CONTACT_SEARCH_FIELDS, term)) == [ann]
    # A part of the email is no merged email; other searches are untouched.
    assert list(search_queryset(contacts, CONTACT_SEARCH_FIELDS, "anne.lee@")) == []
    assert list(search_queryset(contacts, ("first_name",), "anne.lee@acme.com")) == []


def test_timelines_show_the_merges(records, actor):
    ann, anne = records["ann"], records["anne"]
    label = str(anne)
    merging.contacts_merge(survivor=ann, others=[anne], actor=actor)
    merges = [
        (item.text, item.who)
        for item in contact_timeline(contact=ann)
        if item.kind is TimelineKind.MERGED
    ]
    # Newest first: this merge, then the one into Anne before (it moved along).
    assert merges == [
        (f"Merged {label} into this contact.", actor),
        ("Merged Ann Lee <old.ann@acme.com> into this contact.", None),
    ]
    acme, other = make_company(name="Merge Corp"), make_company(name="Merge Corporation")
    merging.companies_merge(survivor=acme, others=[other])
    merges = [i.text for i in company_timeline(company=acme) if i.kind is TimelineKind.MERGED]
    assert merges == ["Merged Merge Corporation into this company."]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("one record", "Choose at least two contacts to merge."),
        ("survivor among the others", "The record that stays cannot also be merged into itself."),
        ("listed twice", "A record is listed twice: list each record once."),
        ("another kind", "Only saved contacts can be merged with one another."),
        ("unsaved", "Only saved contacts can be merged with one another."),
        ("too many", "At most 10 contacts can be merged at once."),
        ("unknown field", "“last_contacted_at” is not a field that merging sets."),
        ("key field", "“email_key” is not a field that merging sets."),
        ("value of a record not merged", "The value for “email” must come from one of the"),
        ("deleted meanwhile", "One of the contacts to merge no longer exists: nothing was merged."),
    ],
)
def test_merge_refuses_and_writes_nothing(case, message, records, actor):
    ann, anne, lee = records["ann"], records["anne"], records["lee"]
    survivor, others, values = ann, [anne], {}
    if case == "one record":
        others = []
    elif case == "survivor among the others":
        others = [anne, ann]
    elif case == "listed twice":
        others = [anne, anne]
    elif case == "another kind":
        others = [make_company()]
    elif case == "unsaved":
        others = [Contact(first_name="New", email="new@example.com")]
    elif case == "too many":
        others = [make_contact() for _ in range(merging.MAX_MERGED)]
    elif case == "unknown field":
        values = {"last_contacted_at": anne.pk}
    elif case == "key field":
        values = {"email_key": anne.pk}
    elif case == "value of a record not merged":
        values = {"email": lee.pk}
    elif case == "deleted meanwhile":
        gone = make_contact()
        Contact.objects.filter(pk=gone.pk).delete()
        others = [anne, gone]
    before = snapshot_all()
    with pytest.raises(ValidationError) as refused:
        merging.contacts_merge(survivor=survivor, others=others, values=values, actor=actor)
    assert refused.value.messages[0].startswith(message)
    assert snapshot_all() == before


def test_merge_runs_the_same_queries_whatever_the_rows_moved(actor, django_assert_num_queries):
    ContentType.objects.get_for_model(Contact)  # cached, as after the first request
    expected = 16 + 2  # the merge's, and the savepoint a test's transaction adds around it
    for size in (1, 8):
        ann, bob = make_contact(), make_contact()
        bob.tags.add(*(make_tag() for _ in range(size)))
        for _ in range(size):
            deal = make_deal(contact=bob)
            DealNote.objects.create(deal=deal, text="n")
            ContactNote.objects.create(contact=bob, text="c")
            log(bob, actor, "Changed.")
        if size > 1:
            merging.contacts_merge(survivor=bob, others=[make_contact()])
        with django_assert_num_queries(expected):
            merging.contacts_merge(survivor=ann, others=[bob], actor=actor)
        assert Deal.objects.filter(contact=ann).count() == size


def test_company_merge_runs_the_same_queries_whatever_the_rows_moved(
    actor, django_assert_num_queries
):
    ContentType.objects.get_for_model(Company)
    expected = 11 + 2
    for size in (1, 8):
        acme, other = make_company(), make_company()
        for _ in range(size):
            make_contact(company=other)
            log(other, actor, "Changed.")
        with django_assert_num_queries(expected):
            merging.companies_merge(survivor=acme, others=[other], actor=actor)
        assert Contact.objects.filter(company=acme).count() == size


def test_dashboard_figures_stay_exact_after_a_merge(records, actor):
    merging.contacts_merge(survivor=records["ann"], others=[records["anne"], records["lee"]])
    assert_figures_exact()


# --- all or nothing ------------------------------------------------------------------------


def snapshot_all() -> dict:
    """Every row a merge writes, as it is."""
    through = Contact.tags.through
    return {
        "contacts": list(Contact.objects.order_by("pk").values()),
        "companies": list(Company.objects.order_by("pk").values()),
        "deals": list(Deal.objects.order_by("pk").values()),
        "contact_notes": list(ContactNote.objects.order_by("pk").values()),
        "deal_notes": list(DealNote.objects.order_by("pk").values()),
        "tags": list(through.objects.order_by("pk").values()),
        "stage_changes": list(DealStageChange.objects.order_by("pk").values()),
        "merged": list(MergedRecord.objects.order_by("pk").values()),
        "log": list(LogEntry.objects.order_by("pk").values()),
    }


@pytest.fixture
def refusing_deletes():
    """A real trigger refusing every delete of a contact or a company: the last statement of
    a merge fails in the database, after everything else was written."""
    tables = ("crm_admin_contact", "crm_admin_company")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION crm_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'deletes refused by the test'; END $$"
            )
            for table in tables:
                cursor.execute(
                    f"CREATE TRIGGER crm_test_refuse BEFORE DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION crm_test_refuse()"
                )
        else:
            for table in tables:
                cursor.execute(
                    f"CREATE TRIGGER crm_test_refuse_{table} BEFORE DELETE ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'deletes refused by the test'); END"
                )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS crm_test_refuse ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS crm_test_refuse()")
        else:
            for table in tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS crm_test_refuse_{table}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_contact_merge_is_all_or_nothing_when_the_database_fails_midway(
    records, actor, refusing_deletes
):
    before = snapshot_all()
    with pytest.raises(DatabaseError, match="deletes refused by the test"):
        merging.contacts_merge(
            survivor=records["ann"],
            others=[records["anne"], records["lee"]],
            values={"email": records["anne"].pk, "phone": records["lee"].pk},
            actor=actor,
        )
    assert snapshot_all() == before


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_company_merge_is_all_or_nothing_when_the_database_fails_midway(actor, refusing_deletes):
    acme, other = make_company(name="Acme"), make_company(name="Acme Inc")
    make_contact(company=other)
    log(other, actor, "Changed.")
    before = snapshot_all()
    with pytest.raises(DatabaseError, match="deletes refused by the test"):
        merging.companies_merge(
            survivor=acme, others=[other], values={"name": other.pk}, actor=actor
        )
    assert snapshot_all() == before


@pytest.mark.django_db
def test_the_admin_history_is_indexed_by_object_for_the_merge_to_move_it():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "django_admin_log")
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert ("content_type_id", "object_id") in indexed
