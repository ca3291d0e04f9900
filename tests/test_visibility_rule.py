"""The one rule of deal visibility (crm_admin.models.visible_deals_condition) and the setting
that turns it on. The surfaces that obey it are tested in tests/test_visibility_*.py."""

import pytest
from django.contrib.auth.models import AnonymousUser

from crm_admin.deal_history import DealStageChange
from crm_admin.models import Deal, DealNote, sees_all_deals, visible_deals_condition
from tests.factories import make_deal, make_user, make_user_in
from tests.test_settings import run_manage

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals():
    ann, bob = make_user_in("Sales rep"), make_user_in("Sales rep")
    mine = [make_deal(owner=ann), make_deal(owner=ann)]
    theirs = [make_deal(owner=bob), make_deal(owner=None)]
    return ann, bob, mine, theirs


def ids(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


def test_with_visibility_all_everyone_who_may_view_deals_sees_every_deal(settings, deals):
    ann, _bob, mine, theirs = deals
    assert settings.CRM_DEAL_VISIBILITY == "all"  # the default
    assert sees_all_deals(ann)
    assert ids(Deal.objects.visible_to(ann)) == {d.pk for d in mine + theirs}


def test_with_visibility_own_a_rep_sees_only_the_deals_they_own(settings, deals):
    settings.CRM_DEAL_VISIBILITY = "own"
    ann, bob, mine, theirs = deals
    assert not sees_all_deals(ann)
    assert ids(Deal.objects.visible_to(ann)) == {d.pk for d in mine}
    assert ids(Deal.objects.visible_to(bob)) == {theirs[0].pk}  # nobody owns the last one


@pytest.mark.parametrize("who", ["manager", "superuser", "granted"])
def test_with_visibility_own_view_all_deals_sees_every_deal(settings, deals, who):
    settings.CRM_DEAL_VISIBILITY = "own"
    _ann, _bob, mine, theirs = deals
    user = {
        "manager": lambda: make_user_in("Sales manager"),
        "superuser": lambda: make_user(is_superuser=True),
        "granted": lambda: make_user(perms=["crm_admin.view_deal", "crm_admin.view_all_deals"]),
    }[who]()
    assert sees_all_deals(user)
    assert ids(Deal.objects.visible_to(user)) == {d.pk for d in mine + theirs}


def test_nobody_anonymous_or_inactive_sees_a_deal_they_do_not_own(settings, deals):
    settings.CRM_DEAL_VISIBILITY = "own"
    ann, _bob, mine, _theirs = deals
    assert not Deal.objects.visible_to(AnonymousUser()).exists()
    ann.is_active = False
    ann.save()
    # An inactive user has no permissions; the rule still narrows to their own deals.
    assert ids(Deal.objects.visible_to(ann)) <= {d.pk for d in mine}


def test_the_rule_reaches_deals_through_other_models(settings, deals):
    settings.CRM_DEAL_VISIBILITY = "own"
    ann, _bob, mine, theirs = deals
    for deal in mine + theirs:
        DealNote.objects.create(deal=deal, text="Called")
    notes = DealNote.objects.filter(visible_deals_condition(ann, through="deal__"))
    assert set(notes.values_list("deal", flat=True)) == {d.pk for d in mine}
    history = DealStageChange.objects.filter(visible_deals_condition(ann, through="deal__"))
    assert set(history.values_list("deal", flat=True)) == {d.pk for d in mine}


def test_an_unknown_visibility_refuses_to_start():
    result = run_manage("check", DEBUG="1", CRM_DEAL_VISIBILITY="mine")
    assert result.returncode != 0
    message = 'CRM_DEAL_VISIBILITY=\'mine\': expected "all" or "own".'
    assert f"(crm_admin.E001) {message}" in result.stderr
