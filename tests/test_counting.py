"""List counts: exact while cheap, an estimate or a lower bound past CRM_EXACT_COUNT_LIMIT."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from crm_admin.counting import ApproximateCount, EstimatingPaginator, list_count
from crm_admin.models import Contact
from tests.factories import make_contact

pytestmark = pytest.mark.django_db
CONTACTS = reverse("admin:crm_admin_contact_changelist")
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="estimates come from PostgreSQL's statistics"
)


def analyze():
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")


@pytest.fixture
def contacts():
    return [make_contact(last_name=f"Smith{n}") for n in range(8)] + [make_contact(last_name="Lee")]


@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_counts_under_the_limit_are_exact_in_one_query(contacts, django_assert_num_queries):
    with django_assert_num_queries(1):
        count = list_count(Contact.objects.filter(last_name="Lee"))
    assert count == 1 and type(count) is int


@postgres_only
@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_the_api_count_is_the_same_estimate(staff_client, contacts):
    analyze()
    body = staff_client.get("/api/crm/contacts/", {"page_size": 2}).json()
    assert body["count"] == 9 and body["next"]
    last = staff_client.get("/api/crm/contacts/", {"page_size": 2, "page": 5}).json()
    assert len(last["results"]) == 1 and last["next"] is None


@postgres_only
@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_an_unfiltered_list_past_the_limit_takes_the_tables_estimate(
    contacts, django_assert_num_queries
):
    analyze()
    # One query, as under the limit: the capped count carries the table's estimate along.
    with django_assert_num_queries(1):
        count = list_count(Contact.objects.all())
    assert isinstance(count, ApproximateCount)
    assert count == 9 and str(count) == "about 9"


@postgres_only
@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_a_filtered_list_past_the_limit_says_more_than(contacts, django_assert_num_queries):
    analyze()
    with django_assert_num_queries(2):
        count = list_count(Contact.objects.filter(last_name__startswith="Smith"))
    assert str(count) == "more than 5"
    assert count >= 6


@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_sqlite_and_small_tables_count_exactly(contacts):
    count = list_count(Contact.objects.filter(last_name__startswith="Smith"))
    if connection.vendor == "postgresql":
        assert str(count) == "more than 5"
    else:
        assert count == 8 and type(count) is int


@postgres_only
@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_every_row_stays_reachable_when_the_estimate_is_short(contacts):
    analyze()
    make_contact(last_name="Smith-late")  # after ANALYZE: the estimate is one short
    paginator = EstimatingPaginator(Contact.objects.order_by("pk"), 3)
    assert paginator.is_estimated and paginator.num_pages == 3
    seen = [c.pk for number in range(1, 5) for c in paginator.page(number).object_list]
    assert sorted(seen) == sorted(Contact.objects.values_list("pk", flat=True))


@postgres_only
@override_settings(CRM_EXACT_COUNT_LIMIT=5)
def test_the_contact_list_shows_the_capped_count_and_pages(
    staff_client, contacts, monkeypatch, django_assert_max_num_queries
):
    analyze()
    monkeypatch.setattr(admin.site.get_model_admin(Contact), "list_per_page", 2)
    page = staff_client.get(CONTACTS, {"q": "Smith"}).content.decode()
    assert "more than 5" in page
    response = staff_client.get(CONTACTS, {"q": "Smith", "p": "4"})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 2
    page = staff_client.get(CONTACTS).content.decode()
    assert "about 9" in page


def test_no_list_runs_a_second_full_count(staff_client, contacts):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        staff_client.get(CONTACTS, {"q": "Smith"})
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1, counts
