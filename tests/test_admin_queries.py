"""Every admin list page costs the same number of SQL queries whatever the number of rows."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm_admin.deal_history import LostReason
from crm_admin.models import Contact, ContactNote, Deal, DealNote, Stage
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user

pytestmark = pytest.mark.django_db

# An upper bound that documents today's cost; the real assertion is "same at both sizes".
MAX_QUERIES = 12
# A change page: the record, its inline notes, the form's widgets, and below the form its
# related records and its timeline (crm_admin/timeline.py: a count and a page, then one query
# per kind of row on the page, up to three on a contact page; and two for a contact's deals).
MAX_CHANGE_PAGE_QUERIES = 16

PAGES = [
    ("admin:crm_admin_contact_changelist", {}),
    ("admin:crm_admin_contact_changelist", {"o": "-7"}),
    ("admin:crm_admin_contact_changelist", {"q": "example", "status__exact": "new"}),
    # Sorted by next step; the dashboard's My day links.
    ("admin:crm_admin_contact_changelist", {"o": "8"}),
    ("admin:crm_admin_contact_changelist", {"next_step": "overdue", "owner": "mine"}),
    ("admin:crm_admin_deal_changelist", {}),
    ("admin:crm_admin_deal_changelist", {"o": "5", "status": "open"}),
    ("admin:crm_admin_deal_changelist", {"o": "-9", "next_step": "week"}),
    ("admin:crm_admin_deal_changelist", {"next_step": "none", "owner": "mine", "status": "open"}),
    # Stale deals (a stage goes stale in add_rows) and lost ones by reason.
    ("admin:crm_admin_deal_changelist", {"stale": "yes"}),
    ("admin:crm_admin_deal_changelist", {"lost_reason": "none", "o": "3"}),
    ("admin:crm_admin_company_changelist", {}),
    ("admin:crm_admin_company_changelist", {"o": "-4"}),
    ("admin:crm_admin_stage_changelist", {}),
    ("admin:crm_admin_lostreason_changelist", {}),
    ("admin:crm_admin_tag_changelist", {}),
    ("admin:crm_admin_contactnote_changelist", {}),
    ("admin:crm_admin_dealnote_changelist", {}),
]


def add_rows(count: int, owner=None) -> None:
    """Add `count` of each CRM row, every one with the relations its list page shows, next
    steps overdue, due today and this week (closed deals drop theirs), half the deals of the
    first stage stale, the lost ones with a reason."""
    owner = owner or make_user()
    tags = [make_tag(), make_tag()]
    stages = list(Stage.objects.all())
    stages[0].stale_after_days = 7
    stages[0].save(update_fields=["stale_after_days"])
    reasons = list(LostReason.objects.all())
    today, now = timezone.localdate(), timezone.now()
    for i in range(count):
        step = {"next_step": f"Step {i}", "next_step_due": today + timedelta(days=i % 3 - 1)}
        contact = make_contact(company=make_company(), tags=tags, owner=owner, **step)
        deal_stage = stages[i % len(stages)]
        deal = make_deal(
            contact=contact,
            owner=owner,
            stage=deal_stage,
            tags=tags,
            lost_reason=reasons[i % len(reasons)] if deal_stage.outcome == "lost" else None,
            **step,
        )
        if i % 2:
            Deal.objects.filter(pk=deal.pk).update(stage_entered_at=now - timedelta(days=8))
        ContactNote.objects.create(contact=contact, text="Call", created_by=owner)
        DealNote.objects.create(deal=deal, text="Proposal", created_by=owner)


def count_queries(client, url, params) -> int:
    # Warm-up: the first request after login saves the session and fills per-process caches.
    client.get(url, params)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(("url_name", "params"), PAGES)
def test_list_page_query_count_is_flat(staff_client, admin_user, url_name, params):
    url = reverse(url_name)
    add_rows(3, owner=admin_user)
    small = count_queries(staff_client, url, params)
    add_rows(30, owner=admin_user)
    large = count_queries(staff_client, url, params)
    assert small == large, f"{url}?{params}: {small} queries with 3 rows, {large} with 33"
    assert large <= MAX_QUERIES


@pytest.mark.parametrize("model", ["contact", "deal"])
def test_change_page_with_many_notes_has_a_flat_query_count(staff_client, model):
    add_rows(1)
    obj = Contact.objects.first() if model == "contact" else Deal.objects.first()
    note_model, fk = (ContactNote, "contact") if model == "contact" else (DealNote, "deal")
    url = reverse(f"admin:crm_admin_{model}_change", args=[obj.pk])
    few = count_queries(staff_client, url, {})
    # Older than the rest of the record's history, so that the timeline's first page holds
    # the same kinds of rows at both sizes (it reads each kind on the page once).
    before = obj.created_at - timedelta(days=1)
    note_model.objects.bulk_create(
        note_model(**{fk: obj}, text=f"Note {i}", created_at=before) for i in range(40)
    )
    many = count_queries(staff_client, url, {})
    assert few == many, f"{few} queries with 1 note, {many} with 41 (the inline pages by 10)"
    assert many <= MAX_CHANGE_PAGE_QUERIES
