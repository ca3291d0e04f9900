import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.http import HttpRequest

from crm_admin.models import Company, Contact, ContactNote, Deal, DealNote, Stage, Tag

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


def test_demo_superuser_gets_a_fresh_printed_password(settings, client):
    output = run_demo(settings, debug=True)
    password = re.search(r"with password: (\S+)", output).group(1)
    assert len(password) >= 12
    # django-axes' backend needs the request a real login has.
    assert client.login(request=HttpRequest(), username="admin", password=password)

    second = run_demo(settings, debug=True)
    assert "already present" in second and "password:" not in second
    assert Company.objects.count() == 6, "the demo is loaded once"


def test_no_demo_superuser_without_debug(settings):
    output = run_demo(settings, debug=False)
    assert not get_user_model().objects.filter(is_superuser=True).exists()
    assert "createsuperuser" in output
