"""Search: the same rows as a plain OR of `icontains` over the list's fields, through indexes."""

from functools import reduce
from operator import and_, or_

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from crm_admin.models import Company, Contact, Deal
from crm_admin.search import (
    COMPANY_SEARCH_FIELDS,
    CONTACT_SEARCH_FIELDS,
    DEAL_SEARCH_FIELDS,
    search_queryset,
)
from tests.factories import make_company, make_contact, make_deal

pytestmark = pytest.mark.django_db

LISTS = [
    (Contact, CONTACT_SEARCH_FIELDS),
    (Deal, DEAL_SEARCH_FIELDS),
    (Company, COMPANY_SEARCH_FIELDS),
]
SEARCHES = ["acme", "smith", "acme smith", "renewal acme", "example.com", "nomatch", "ann"]


def plain_search(model, fields, text):
    """The search as Django's admin wrote it before: every word in any field, one big join."""
    words = [w for w in text.split() if len(w) >= 3]
    if not words:
        return model.objects.all()
    return model.objects.filter(
        reduce(and_, (reduce(or_, (Q(**{f"{f}__icontains": w}) for f in fields)) for w in words))
    ).distinct()


@pytest.fixture
def records():
    acme = make_company(name="Acme Corp", website="https://acme.example.com")
    globex = make_company(name="Globex", industry="Smithing")
    smith = make_contact(first_name="Jo", last_name="Smith", company=acme)
    make_contact(first_name="Ann", last_name="Acmeson", email="ann@globex.test", company=globex)
    make_contact(first_name="Sam", last_name="Lee", company=None)
    make_deal(title="Renewal", contact=smith)
    make_deal(title="Acme pilot")
    make_deal(title="Other", contact=make_contact(last_name="Brown", company=globex))


@pytest.mark.parametrize("model,fields", LISTS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("text", SEARCHES)
def test_search_finds_the_same_rows_as_a_plain_or(records, model, fields, text):
    found = set(search_queryset(model.objects.all(), fields, text).values_list("pk", flat=True))
    expected = set(plain_search(model, fields, text).values_list("pk", flat=True))
    assert found == expected


def test_a_search_costs_the_same_queries_whatever_the_fields(records, django_assert_num_queries):
    # PostgreSQL collects the matching ids first (crm_admin/search.py), then reads them.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 1):
        list(search_queryset(Deal.objects.all(), DEAL_SEARCH_FIELDS, "acme smith renewal"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes: PostgreSQL")
def test_a_common_word_keeps_the_condition_and_a_rare_one_reads_the_ids(records, settings):
    settings.CRM_EXACT_COUNT_LIMIT = 1  # two deals match "acme": more than the limit
    common = search_queryset(Deal.objects.all(), DEAL_SEARCH_FIELDS, "acme")
    rare = search_queryset(Deal.objects.all(), DEAL_SEARCH_FIELDS, "renewal")
    assert "LIKE" in str(common.query) and "unnest" not in str(common.query)
    assert "unnest" in str(rare.query) and "LIKE" not in str(rare.query)
    assert set(common) == set(plain_search(Deal, DEAL_SEARCH_FIELDS, "acme"))
    assert set(rare) == set(plain_search(Deal, DEAL_SEARCH_FIELDS, "renewal"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes: PostgreSQL")
@pytest.mark.parametrize(
    "model,fields,index",
    [
        (Contact, CONTACT_SEARCH_FIELDS, "crm_contact_last_name_trgm"),
        (Contact, CONTACT_SEARCH_FIELDS, "crm_company_name_trgm"),
        (Deal, DEAL_SEARCH_FIELDS, "crm_deal_title_trgm"),
        (Deal, DEAL_SEARCH_FIELDS, "crm_contact_email_trgm"),
        (Company, COMPANY_SEARCH_FIELDS, "crm_company_website_trgm"),
    ],
)
def test_each_searched_column_is_read_through_its_trigram_index(records, model, fields, index):
    # The query that finds the matches, explained with every scan but bitmap scans priced
    # out: a plan that can use the index does, which proves the index matches the expression
    # the search emits (a mismatch leaves a scan).
    with CaptureQueriesContext(connection) as queries:
        search_queryset(model.objects.all(), fields, "acme")
    (collecting,) = queries.captured_queries
    with connection.cursor() as cursor:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):
            cursor.execute(f"SET LOCAL enable_{scan} = off")
        cursor.execute(f"EXPLAIN {collecting['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
