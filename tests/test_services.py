from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm_admin import services
from crm_admin.models import Contact, Deal, Stage
from tests.factories import lost_reason, make_contact, make_deal, make_tag, make_user, stage

pytestmark = pytest.mark.django_db


def bulk_deals(count: int, **fields) -> list[Deal]:
    contact = make_contact()
    fields.setdefault("stage", stage("Prospecting"))
    return Deal.objects.bulk_create(
        Deal(title=f"Bulk {i}", contact=contact, amount=Decimal(100), **fields)
        for i in range(count)
    )


def test_mark_won_moves_to_the_first_won_stage_with_probability_100():
    Stage.objects.create(name="Won later", outcome=Stage.Outcome.WON)  # after Closed-Won
    deals = [make_deal(probability=30), make_deal(stage=stage("Negotiation"))]
    count = services.deals_mark_won(deals=Deal.objects.filter(pk__in=[d.pk for d in deals]))
    assert count == 2
    for deal in Deal.objects.filter(pk__in=[d.pk for d in deals]):
        assert deal.stage.name == "Closed-Won"
        assert deal.probability == 100
        assert deal.closed_at is not None


def test_mark_lost_sets_probability_0_and_closes():
    deal = make_deal(probability=70)
    assert (
        services.deals_mark_lost(deals=Deal.objects.filter(pk=deal.pk), lost_reason=lost_reason())
        == 1
    )
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability) == ("Closed-Lost", 0)
    assert deal.closed_at is not None


def test_deals_already_won_keep_their_closing_date():
    deal = make_deal(stage=stage("Closed-Won"))
    closed_at = deal.closed_at
    assert services.deals_mark_won(deals=Deal.objects.all()) == 0
    deal.refresh_from_db()
    assert deal.closed_at == closed_at


def test_mark_won_refuses_when_no_won_stage_and_changes_nothing():
    Stage.objects.filter(outcome=Stage.Outcome.WON).update(outcome=Stage.Outcome.OPEN)
    deal = make_deal(probability=30)
    with pytest.raises(ValidationError, match="No pipeline stage has the outcome “Won”"):
        services.deals_mark_won(deals=Deal.objects.all())
    deal.refresh_from_db()
    assert (deal.stage.name, deal.probability, deal.closed_at) == ("Prospecting", 30, None)


def test_mark_lost_refuses_when_no_lost_stage():
    Stage.objects.filter(outcome=Stage.Outcome.LOST).update(outcome=Stage.Outcome.OPEN)
    make_deal()
    with pytest.raises(ValidationError, match="“Lost”"):
        services.deals_mark_lost(deals=Deal.objects.all())
    assert not Deal.objects.filter(probability=0).exists()


def test_moving_back_to_an_open_stage_clears_closed_at_and_keeps_probability():
    deal = make_deal(stage=stage("Closed-Lost"), probability=0)
    services.deals_move_to_stage(deals=Deal.objects.all(), stage=stage("Negotiation"))
    deal.refresh_from_db()
    assert (deal.stage.name, deal.closed_at, deal.probability) == ("Negotiation", None, 0)


def test_assign_owner_and_unassign():
    alice, bob = make_user(), make_user()
    mine, theirs = make_deal(owner=alice), make_deal(owner=bob)
    assert services.deals_assign_owner(deals=Deal.objects.all(), owner=alice) == 1
    assert set(Deal.objects.values_list("owner", flat=True)) == {alice.pk}
    assert services.deals_assign_owner(deals=Deal.objects.filter(pk=mine.pk), owner=None) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.owner, theirs.owner) == (None, alice)


def test_tags_add_skips_existing_links_and_tags_remove_removes_them():
    vip, buyers = make_tag(name="VIP"), make_tag(name="Hot lead")
    tagged = make_deal(tags=[vip])
    plain = make_deal()
    added = services.tags_add(rows=Deal.objects.all(), tags=[vip, buyers])
    assert added == 3, "tagged already had VIP"
    assert set(tagged.tags.all()) == set(plain.tags.all()) == {vip, buyers}

    removed = services.tags_remove(rows=Deal.objects.filter(pk=plain.pk), tags=[vip])
    assert removed == 1
    assert set(plain.tags.all()) == {buyers}
    assert set(tagged.tags.all()) == {vip, buyers}


def test_tag_services_work_on_contacts_too():
    vip = make_tag(name="VIP")
    contacts = [make_contact(), make_contact()]
    assert services.tags_add(rows=Contact.objects.all(), tags=[vip]) == 2
    assert all(list(c.tags.all()) == [vip] for c in contacts)
    assert services.tags_remove(rows=Contact.objects.all(), tags=[vip]) == 2


def test_contacts_set_status_refuses_an_unknown_status():
    contact = make_contact()
    assert services.contacts_set_status(contacts=Contact.objects.all(), status="inactive") == 1
    with pytest.raises(ValidationError):
        services.contacts_set_status(contacts=Contact.objects.all(), status="asleep")
    contact.refresh_from_db()
    assert contact.status == "inactive"


def test_services_record_admin_history_for_the_actor():
    user = make_user()
    deal = make_deal()
    services.deals_mark_won(deals=Deal.objects.all(), actor=user)
    entry = LogEntry.objects.get(object_id=str(deal.pk))
    assert entry.user == user
    assert entry.object_repr == deal.title
    assert entry.change_message == "Moved to stage Closed-Won."


def test_services_work_on_filtered_querysets_with_joins_and_distinct():
    vip = make_tag(name="VIP")
    make_deal(tags=[vip])
    make_deal(tags=[vip])
    other = make_deal()
    filtered = Deal.objects.filter(tags__name="VIP").distinct().select_related("stage")
    assert services.deals_mark_lost(deals=filtered, lost_reason=lost_reason()) == 2
    other.refresh_from_db()
    assert other.stage.name == "Prospecting"


def queries_for(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured)


@pytest.mark.parametrize(
    "service",
    [
        lambda deals, user, tag: services.deals_mark_won(deals=deals, actor=user),
        lambda deals, user, tag: services.deals_move_to_stage(
            deals=deals, stage=stage("Negotiation"), actor=user
        ),
        lambda deals, user, tag: services.deals_assign_owner(deals=deals, owner=user, actor=user),
        lambda deals, user, tag: services.tags_add(rows=deals, tags=[tag], actor=user),
        lambda deals, user, tag: services.tags_remove(rows=deals, tags=[tag], actor=user),
    ],
    ids=["mark_won", "move_to_stage", "assign_owner", "tags_add", "tags_remove"],
)
def test_10_and_10000_deals_cost_the_same_number_of_queries(service):
    user, tag = make_user(), make_tag()
    stage("Negotiation")  # warm the lookups the lambdas make outside the measured call
    ContentType.objects.get_for_model(Deal)  # and the history's, cached once per process
    small = [d.pk for d in bulk_deals(10)]
    large = [d.pk for d in bulk_deals(10_000)]
    few = queries_for(lambda: service(Deal.objects.filter(pk__in=small), user, tag))
    many = queries_for(lambda: service(Deal.objects.filter(pk__gte=min(large)), user, tag))
    assert few == many
    # At most: the stage lookup, a savepoint and its release, the row lock (PostgreSQL),
    # the admin history, the stage history and the update.
    assert many <= 7
