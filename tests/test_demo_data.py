import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from crm_admin import selectors
from crm_admin.deal_history import DealStageChange
from crm_admin.duplicates import duplicates_of
from crm_admin.models import (
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


def run_demo(settings, *, debug: bool) -> str:
    from io import StringIO

    settings.DEBUG = debug
    out = StringIO()
    call_command("crm_demo", stdout=out)
    return out.getvalue()


def test_demo_fixtures_give_a_newcomer_something_to_explore(settings):
    run_demo(settings, debug=True)
    assert Company.objects.count() >= 5
    assert Contact.objects.count() >= 20
    assert Deal.objects.count() >= 15
    assert ContactNote.objects.exists() and DealNote.objects.exists()
    assert {"Buyers", "Consulting", "VIP"} <= set(Tag.objects.values_list("name", flat=True))
    assert set(Deal.objects.values_list("stage__name", flat=True)) == set(
        Stage.objects.values_list("name", flat=True)
    ), "demo deals cover every stage"


def test_demo_data_respects_the_model_rules(settings):
    run_demo(settings, debug=True)
    for deal in Deal.objects.select_related("stage"):
        deal.full_clean()
        assert (deal.closed_at is not None) == deal.stage.is_closed, deal.title
    for note in ContactNote.objects.select_related("contact"):
        assert note.contact.last_contacted_at >= note.created_at
    for note in DealNote.objects.select_related("deal__contact"):
        assert note.deal.contact.last_contacted_at >= note.created_at


def test_demo_deals_have_stage_histories_and_the_dashboard_shows_them(settings, client):
    run_demo(settings, debug=True)
    assert stage_history_problems() == []
    assert DealStageChange.objects.count() > Deal.objects.count(), "deals moved on"
    lost = Deal.objects.filter(stage__outcome=Stage.Outcome.LOST)
    assert lost.exists() and not lost.filter(lost_reason__isnull=True).exists()
    assert not Deal.objects.exclude(stage__outcome=Stage.Outcome.LOST).exclude(lost_reason=None)
    # Each move was made by the deal's owner.
    assert not DealStageChange.objects.exclude(changed_by=F("deal__owner")).exists()
    # Closed deals closed on their fixture's date, which is when they entered their stage.
    closed = Deal.objects.exclude(stage__outcome=Stage.Outcome.OPEN)
    assert not closed.exclude(closed_at=F("stage_entered_at")).exists()

    client.force_login(get_user_model().objects.get(username="admin"))
    page = client.get(reverse("admin:crm_admin_deal_history_figures"))  # the dashboard's section
    stale = page.context["stale"]
    assert int(stale["value"]) > 0
    assert int(stale["value"]) < Deal.objects.filter(stage__outcome=Stage.Outcome.OPEN).count()
    velocity = {row["stage"]: row for row in page.context["velocity"]}
    assert velocity["Prospecting"]["left"] != "0", "deals moved on in the last 90 days"


def test_demo_superuser_gets_a_fresh_printed_password(settings, client):
    output = run_demo(settings, debug=True)
    password = re.search(r"with password: (\S+)", output).group(1)
    assert len(password) >= 12
    # django-axes' backend needs the request a real login has.
    assert client.login(request=HttpRequest(), username="admin", password=password)

    second = run_demo(settings, debug=True)
    assert "already present" in second and "password:" not in second
    assert Company.objects.count() == 7, "the demo is loaded once"


def test_the_demo_has_a_near_duplicate_company_and_contact_to_find(settings):
    run_demo(settings, debug=True)

    northwind = Company.objects.get(name="Northwind Traders")
    twin = Company.objects.get(name="Northwind Traders, Inc.")
    assert [(m.record, m.reasons) for m in duplicates_of(northwind)] == [
        (twin, "Same name, Same website")
    ]
    maria = Contact.objects.get(email="maria.garcia@northwind.example.com")
    (match,) = duplicates_of(maria)
    assert match.record.email == "m.garcia@northwind.example.com"
    assert match.reasons == "Same phone, Same name at the same company"


def test_no_demo_superuser_without_debug(settings):
    output = run_demo(settings, debug=False)
    assert not get_user_model().objects.filter(is_superuser=True).exists()
    assert "createsuperuser" in output


def test_the_demo_login_finds_its_day_planned_relative_to_today(settings, client):
    run_demo(settings, debug=True)
    login = get_user_model().objects.get(username="admin")
    today = timezone.localdate()
    day = selectors.my_day(user=login, today=today)
    for kind in ("deal", "contact"):
        for due in (NextStepDue.OVERDUE, NextStepDue.TODAY, NextStepDue.THIS_WEEK):
            assert day.counts[kind, due] > 0, (kind, due)
    assert day.counts["deal", NextStepDue.NONE] > 0
    assert Deal.objects.filter(owner=login, next_step="Introduce the support team").exists()
    client.force_login(login)
    page = client.get(reverse("admin:index"))
    assert [row["step"] for row in page.context["my_day_now"]][:2] == [
        "Chase the signed order",
        "Send the revised quote",
    ]
    assert page.context["my_day_week"]


def test_demo_next_steps_cover_every_case_and_obey_the_rules(settings):
    run_demo(settings, debug=True)
    today = timezone.localdate()
    open_deals = Deal.objects.filter(stage__outcome=Stage.Outcome.OPEN)
    for records in (open_deals, Contact.objects.all()):
        dues = set(records.exclude(next_step="").values_list("next_step_due", flat=True))
        assert None in dues, "some steps are undated"
        assert min(due for due in dues if due) < today
        assert today in dues
        assert max(due for due in dues if due) > today
        assert records.filter(next_step="").exists(), "some have none"
    assert not Deal.objects.exclude(stage__outcome=Stage.Outcome.OPEN).exclude(next_step="")
    assert not Contact.objects.filter(owner__isnull=True).exists()
    assert {user.username for user in get_user_model().objects.filter(contacts__isnull=False)} == {
        "admin",
        "alice",
        "bob",
    }
    # Deterministic: the first open deal always gets the plan's first step.
    first = open_deals.order_by("pk").first()
    assert (first.next_step, first.next_step_due) == (
        "Send the revised quote",
        today - timedelta(days=2),
    )
    assert first.owner.username == "admin"
    for record in [*Deal.objects.all(), *Contact.objects.all()]:
        record.full_clean()


def test_an_existing_superuser_gets_the_demo_logins_share(settings):
    boss = get_user_model().objects.create_superuser(username="boss", password="pw-for-tests")
    output = run_demo(settings, debug=False)
    assert "'boss' owns some of them" in output
    assert Deal.objects.filter(owner=boss).exclude(next_step="").exists()
    assert Contact.objects.filter(owner=boss).exclude(next_step="").exists()
    assert not get_user_model().objects.filter(username="admin").exists()


def test_a_second_run_leaves_the_next_steps_alone(settings):
    run_demo(settings, debug=True)
    Deal.objects.update(next_step="Mine now", next_step_due=None)
    run_demo(settings, debug=True)
    assert set(Deal.objects.values_list("next_step", flat=True)) == {"Mine now"}
