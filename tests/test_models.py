from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote, Stage, Tag
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user, stage

pytestmark = pytest.mark.django_db


def test_migration_creates_default_stages_in_order():
    assert list(Stage.objects.values_list("name", "outcome")) == [
        ("Prospecting", "open"),
        ("Negotiation", "open"),
        ("Closed-Won", "won"),
        ("Closed-Lost", "lost"),
    ]


def test_new_stage_goes_to_the_end():
    new = Stage.objects.create(name="Demo booked")
    assert new.order == Stage.objects.exclude(pk=new.pk).order_by("-order").first().order + 1
    assert list(Stage.objects.all())[-1] == new


@pytest.mark.parametrize(
    ("model", "make", "field", "first", "second"),
    [
        (Tag, make_tag, "name", "VIP", "vip"),
        (Company, make_company, "name", "Acme Ltd", "ACME LTD"),
        (Contact, make_contact, "email", "ann@example.com", "Ann@Example.COM"),
        (Stage, lambda **kw: Stage.objects.create(**kw), "name", "Demo", "DEMO"),
    ],
)
def test_names_and_emails_are_unique_regardless_of_case(model, make, field, first, second):
    make(**{field: first})
    duplicate = model(**{field: second})
    with pytest.raises(ValidationError, match="already exists"):
        duplicate.validate_constraints()
    with pytest.raises(IntegrityError), transaction.atomic():
        make(**{field: second})


def test_probability_out_of_range_is_refused_by_validators_and_database():
    deal = make_deal()
    deal.probability = 150
    with pytest.raises(ValidationError) as excinfo:
        deal.full_clean()
    assert "probability" in excinfo.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(probability=101)


def test_negative_amount_is_refused_by_validators_and_database():
    deal = make_deal()
    deal.amount = Decimal("-1")
    with pytest.raises(ValidationError) as excinfo:
        deal.full_clean()
    assert excinfo.value.message_dict["amount"] == ["The amount cannot be negative."]
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(amount=Decimal("-0.01"))


def test_amount_is_optional_and_probability_defaults_to_50():
    deal = make_deal(amount=None)
    deal.full_clean()
    assert deal.probability == 50


def test_deleting_a_company_with_contacts_is_refused():
    company = make_company()
    make_contact(company=company)
    with pytest.raises(ProtectedError):
        company.delete()


def test_deleting_a_contact_with_deals_is_refused():
    deal = make_deal()
    with pytest.raises(ProtectedError):
        deal.contact.delete()


def test_deleting_a_stage_with_deals_is_refused():
    deal = make_deal(stage=stage("Negotiation"))
    with pytest.raises(ProtectedError):
        deal.stage.delete()


def test_deleting_a_user_keeps_their_deals_and_notes():
    user = make_user()
    deal = make_deal(owner=user)
    note = DealNote.objects.create(deal=deal, created_by=user, text="Call back")
    user.delete()
    deal.refresh_from_db()
    note.refresh_from_db()
    assert deal.owner is None
    assert note.created_by is None


def test_contact_note_moves_last_contacted_forward():
    contact = make_contact()
    note = ContactNote.objects.create(contact=contact, text="Intro call")
    contact.refresh_from_db()
    assert contact.last_contacted_at == note.created_at


def test_an_older_note_never_moves_last_contacted_back():
    contact = make_contact()
    recent = ContactNote.objects.create(contact=contact, text="Latest")
    ContactNote.objects.create(
        contact=contact, text="Backfilled", created_at=recent.created_at - timedelta(days=3)
    )
    contact.refresh_from_db()
    assert contact.last_contacted_at == recent.created_at


def test_deal_note_moves_the_deal_contacts_last_contacted():
    deal = make_deal()
    note = DealNote.objects.create(deal=deal, text="Proposal sent")
    deal.contact.refresh_from_db()
    assert deal.contact.last_contacted_at == note.created_at


def test_editing_a_note_does_not_touch_last_contacted():
    contact = make_contact()
    note = ContactNote.objects.create(contact=contact, text="Intro")
    Contact.objects.filter(pk=contact.pk).update(last_contacted_at=None)
    note.text = "Intro call, corrected"
    note.save()
    contact.refresh_from_db()
    assert contact.last_contacted_at is None


def test_closed_at_is_set_in_won_and_lost_stages_and_cleared_when_reopened():
    deal = make_deal(stage=stage("Prospecting"))
    assert deal.closed_at is None

    deal.stage = stage("Closed-Won")
    deal.save()
    won_at = deal.closed_at
    assert won_at is not None

    deal.title = "Renamed"
    deal.save()
    assert deal.closed_at == won_at, "re-saving inside the same closed stage keeps the date"

    deal.stage = stage("Closed-Lost")
    deal.save(update_fields=["stage"])
    deal.refresh_from_db()
    assert deal.closed_at is not None
    assert deal.closed_at >= won_at

    deal.stage = stage("Negotiation")
    deal.save(update_fields=["stage"])
    deal.refresh_from_db()
    assert deal.closed_at is None


def test_deal_created_in_a_won_stage_is_closed_now():
    before = timezone.now()
    deal = make_deal(stage=stage("Closed-Won"))
    assert before <= deal.closed_at <= timezone.now()


def test_full_name_and_company_properties():
    company = make_company(name="Northwind")
    contact = make_contact(first_name="Maria", last_name="Garcia", company=company)
    deal = make_deal(contact=contact)
    assert contact.full_name == "Maria Garcia"
    assert make_contact(first_name="Cher", last_name="").full_name == "Cher"
    assert deal.company == company


def test_with_usage_counts_tag_links():
    vip = make_tag(name="VIP")
    make_contact(tags=[vip])
    make_contact(tags=[vip])
    make_deal(tags=[vip])
    counted = Tag.objects.with_usage().get(pk=vip.pk)
    assert (counted.contact_count, counted.deal_count) == (2, 1)


def test_saving_into_a_won_or_lost_stage_sets_the_probability():
    deal = make_deal(probability=30)
    deal.stage = stage("Closed-Won")
    deal.save()
    assert deal.probability == 100
    deal.stage = stage("Closed-Lost")
    deal.save(update_fields=["stage"])
    deal.refresh_from_db()
    assert deal.probability == 0


def test_changing_a_stage_outcome_updates_its_deals():
    negotiation = stage("Negotiation")
    deal = make_deal(stage=negotiation, probability=60)
    negotiation.outcome = Stage.Outcome.WON
    negotiation.save()
    deal.refresh_from_db()
    assert (deal.probability, deal.closed_at is not None) == (100, True)
    closed_at = deal.closed_at

    negotiation.outcome = Stage.Outcome.LOST
    negotiation.save()
    deal.refresh_from_db()
    assert (deal.probability, deal.closed_at) == (0, closed_at), "the closing date is kept"

    negotiation.outcome = Stage.Outcome.OPEN
    negotiation.save()
    deal.refresh_from_db()
    assert (deal.probability, deal.closed_at) == (0, None)
