"""Hostile and broken input to the admin lists, the board, the export and the forms' related
fields (issue 10): every one answers `?e=1`, a message or a form error, never a 500."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from crm_admin import search
from crm_admin.admin.lists import list_filter_parameters
from crm_admin.admin.saved_filters import list_parameters
from crm_admin.api import filters as api_filters
from crm_admin.models import Contact, ContactNote, Deal, DealNote
from tests.factories import make_company, make_contact, make_deal, make_tag, make_user
from tests.forms import form_data

pytestmark = pytest.mark.django_db

HUGE = "9223372036854775808"  # 2**63: no 64-bit key holds it
DEALS = reverse("admin:crm_admin_deal_changelist")
CONTACTS = reverse("admin:crm_admin_contact_changelist")
BOARD = reverse("admin:crm_admin_deal_board")
EVERY_LIST = [
    "contact",
    "deal",
    "company",
    "tag",
    "stage",
    "contactnote",
    "dealnote",
    "savedfilter",
]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


# --- 2. a list takes only its declared filters ------------------------------------------------


@pytest.mark.parametrize(
    "query", ["title__regex=^(a|a)*$", "title__regex=[", f"pk__in={HUGE}", "contact__email=x"]
)
def test_a_lookup_no_filter_declares_is_refused_on_the_list_and_the_board(viewer_client, query):
    make_deal(title="a" * 22 + "b")
    response = viewer_client.get(f"{DEALS}?{query}")
    assert (response.status_code, response["Location"]) == (302, f"{DEALS}?e=1")
    response = viewer_client.get(f"{BOARD}?{query}")
    assert (response.status_code, response["Location"]) == (302, BOARD)


@pytest.mark.parametrize("model", EVERY_LIST)
def test_every_crm_list_refuses_a_local_field_lookup(staff_client, model):
    url = reverse(f"admin:crm_admin_{model}_changelist")
    response = staff_client.get(url, {"pk__regex": "["})
    assert (response.status_code, response["Location"]) == (302, f"{url}?e=1")


def test_declared_filters_search_sort_paging_and_popups_still_work(staff_client):
    tag = make_tag()
    make_deal(tags=[tag])
    response = staff_client.get(
        DEALS,
        {
            "status": "open",
            "tags__id__exact": tag.pk,
            "amount_from": "1",
            "q": "Deal",
            "o": "1",
            "p": "1",
            "_popup": "1",
            "_to_field": "id",
        },
    )
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1


def test_the_allowed_parameters_are_exactly_what_the_filter_specs_expect(staff_client):
    from django.contrib import admin

    response = staff_client.get(DEALS)
    changelist, request = response.context["cl"], response.wsgi_request
    live = {name for spec in changelist.filter_specs for name in spec.expected_parameters()}
    deal_admin = admin.site.get_model_admin(Deal)
    assert list_filter_parameters(deal_admin, request) == live
    assert {"status", "tags__id__exact", "amount_from", "amount_to"} <= live
    # The saved filters' check reads the same definition, plus search and sort.
    assert list_parameters(target="deal") == live | {"q", "o"}
    assert deal_admin.lookup_allowed("amount_from", "1", request)
    assert not deal_admin.lookup_allowed("amount__gte", "1", request)
    assert not deal_admin.lookup_allowed("title__regex", "[", request)


# --- 4. a value that is no id in a related field of a form -----------------------------------


def post_form(client, url, form_id, **overrides):
    data = form_data(client.get(url), form_id, **overrides)
    return client.post(url, data)


@pytest.mark.parametrize("value", ["abc", HUGE])
@pytest.mark.parametrize("field", ["contact", "owner", "tags"])
def test_deal_form_answers_a_bad_related_value_with_a_form_error(client, field, value):
    rep = make_user(perms=["crm_admin.view_deal", "crm_admin.change_deal"])
    client.force_login(rep)
    deal = make_deal(title="Pilot")
    url = reverse("admin:crm_admin_deal_change", args=[deal.pk])
    response = post_form(client, url, "deal_form", **{field: value})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Select a valid choice" in page or "is not a valid value" in page
    assert Deal.objects.get(pk=deal.pk).title == "Pilot"


@pytest.mark.parametrize("value", ["abc", HUGE])
@pytest.mark.parametrize("field", ["company", "tags"])
def test_contact_form_answers_a_bad_related_value_with_a_form_error(staff_client, field, value):
    contact = make_contact(company=make_company())
    url = reverse("admin:crm_admin_contact_change", args=[contact.pk])
    response = post_form(staff_client, url, "contact_form", **{field: value})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Select a valid choice" in page or "is not a valid value" in page


@pytest.mark.parametrize("value", ["abc", HUGE])
@pytest.mark.parametrize(("model", "field"), [(ContactNote, "contact"), (DealNote, "deal")])
def test_note_form_answers_a_bad_parent_with_a_form_error(staff_client, model, field, value):
    name = model._meta.model_name
    url = reverse(f"admin:crm_admin_{name}_add")
    response = post_form(staff_client, url, f"{name}_form", **{field: value, "text": "Call"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not model.objects.exists()


# --- 5. oversized ids in the autocomplete filters --------------------------------------------


@pytest.mark.parametrize(
    ("url", "parameter"),
    [(DEALS, "tags__id__exact"), (CONTACTS, "tags__id__exact"), (CONTACTS, "company__id__exact")],
)
def test_an_oversized_id_in_a_list_filter_is_refused(viewer_client, url, parameter):
    make_deal(tags=[make_tag()])
    response = viewer_client.get(url, {parameter: HUGE})
    assert (response.status_code, response["Location"]) == (302, f"{url}?e=1")


# Past the 4,300 digits Python's int() refuses (a ValueError, not "no such id").
ENDLESS = "9" * 5000


@pytest.mark.parametrize("url", [DEALS, CONTACTS])
@pytest.mark.parametrize("parameter", ["owner", "lost_reason"])
def test_an_id_of_thousands_of_digits_in_a_list_filter_is_no_id(staff_client, url, parameter):
    make_deal(title="Pilot")
    response = staff_client.get(url, {parameter: ENDLESS})
    assert response.status_code in (200, 302)


def test_an_action_on_a_row_id_of_thousands_of_digits_changes_nothing(staff_client):
    contact = make_contact()
    data = {"action": "delete_selected", "_selected_action": [ENDLESS, contact.pk]}
    response = staff_client.post(CONTACTS, data, follow=True)
    assert messages_of(response) == ["Those rows are not valid: nothing was changed."]
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- 6. the export page -----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["contact", "deal", "company"])
@pytest.mark.parametrize("query", ["foo=1", "format=0", "amount__gte=abc"])
def test_the_export_page_refuses_unknown_parameters_like_the_list(
    viewer_client, viewer, model, query
):
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="crm_admin", codename=f"export_{model}")
    )
    url = reverse(f"admin:crm_admin_{model}_export")
    changelist = reverse(f"admin:crm_admin_{model}_changelist")
    response = viewer_client.get(f"{url}?{query}")
    # To the list's own error page: an export page with ?e=1 would export every row.
    assert (response.status_code, response["Location"]) == (302, f"{changelist}?e=1")
    assert messages_of(response) == ["Those filters are not valid."]
    assert viewer_client.get(response["Location"]).status_code == 200


def test_the_list_offers_no_facet_counts(viewer_client, django_assert_max_num_queries):
    make_deal(title="Counted")
    with django_assert_max_num_queries(12):
        response = viewer_client.get(DEALS, {"_facets": "1"})
    assert response.status_code == 200
    assert not response.context["cl"].add_facets


# --- 7. long searches; one set of search fields per list --------------------------------------

MANY_WORDS = " ".join(f"w{i:03d}" for i in range(1100))
FIRST_TEN = " ".join(f"w{i:03d}" for i in range(10))


@pytest.mark.parametrize("url", [DEALS, CONTACTS, BOARD])
def test_a_search_of_a_thousand_words_uses_the_first_ten_and_says_so(viewer_client, url):
    make_deal(title=FIRST_TEN)
    response = viewer_client.get(url, {"q": MANY_WORDS})
    assert response.status_code == 200
    assert messages_of(response) == ["A search uses at most 10 words: 1090 words were left out."]


def test_the_capped_search_finds_what_its_first_words_find(viewer_client):
    wanted = make_deal(title=FIRST_TEN)
    make_deal(title="w000 only")
    response = viewer_client.get(DEALS, {"q": MANY_WORDS})
    assert [deal.pk for deal in response.context["cl"].result_list] == [wanted.pk]


def test_the_api_search_uses_the_first_ten_words_like_the_admin(viewer_client):
    wanted = make_deal(title=FIRST_TEN)
    make_deal(title="w000 only")
    response = viewer_client.get("/api/crm/deals/", {"search": MANY_WORDS})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [wanted.pk]


def test_search_words_shorter_than_three_letters_are_left_out(viewer_client):
    wanted = make_deal(title="Acme renewal")
    other = make_deal(title="Globex pilot")
    response = viewer_client.get(DEALS, {"q": "ac renewal"})
    assert [deal.pk for deal in response.context["cl"].result_list] == [wanted.pk]
    assert messages_of(response) == ["Search words need at least 3 letters: “ac” was left out."]
    response = viewer_client.get("/api/crm/deals/", {"search": "ac"})
    assert {row["id"] for row in response.json()["results"]} == {wanted.pk, other.pk}


def test_admin_and_api_search_the_same_fields_of_each_list():
    from django.contrib import admin

    pairs = [
        (Contact, api_filters.ContactFilterSet),
        (Deal, api_filters.DealFilterSet),
        (api_filters.Company, api_filters.CompanyFilterSet),
    ]
    for model, filterset in pairs:
        admin_fields = tuple(admin.site.get_model_admin(model).search_fields)
        assert admin_fields == tuple(filterset.base_filters["search"].fields)
    assert tuple(admin.site.get_model_admin(Deal).search_fields) == search.DEAL_SEARCH_FIELDS


def deal_of(**contact_fields):
    return make_deal(contact=make_contact(**contact_fields))


@pytest.mark.parametrize(
    ("admin_url", "api_url", "term", "make"),
    [
        (DEALS, "/api/crm/deals/", "Ingrid", lambda: deal_of(first_name="Ingrid")),
        (DEALS, "/api/crm/deals/", "ingrid@", lambda: deal_of(email="ingrid@example.com")),
        (
            reverse("admin:crm_admin_company_changelist"),
            "/api/crm/companies/",
            "acme.example",
            lambda: make_company(website="https://acme.example"),
        ),
    ],
)
def test_the_admin_and_the_api_find_the_same_rows(viewer_client, admin_url, api_url, term, make):
    found = make()
    make_deal()
    make_company()
    admin_page = viewer_client.get(admin_url, {"q": term})
    api_page = viewer_client.get(api_url, {"search": term})
    admin_rows = [row.pk for row in admin_page.context["cl"].result_list]
    api_rows = [row["id"] for row in api_page.json()["results"]]
    assert admin_rows == api_rows == [found.pk]


# --- 8. date ranges past the year 9999 in UTC ------------------------------------------------


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"


@pytest.mark.parametrize("bound", ["from", "to"])
def test_a_date_range_bound_past_9999_in_utc_is_ignored_with_a_message(
    viewer_client, new_york, bound
):
    make_contact()
    params = {f"last_contacted_at_{bound}_0": "9999-12-31", f"last_contacted_at_{bound}_1": "23:59"}
    response = viewer_client.get(CONTACTS, params)
    assert response.status_code == 200
    assert messages_of(response) == [
        "Last contacted: “9999-12-31 23:59” was ignored. "
        "Enter a date and time between the years 1 and 9999."
    ]
    assert len(response.context["cl"].result_list) == 1


def test_the_date_range_still_filters_in_the_server_time_zone(viewer_client, new_york):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    inside = make_contact(last_contacted_at=datetime(2025, 3, 1, 23, 30, tzinfo=zone))
    make_contact(last_contacted_at=datetime(2025, 3, 2, 0, 30, tzinfo=zone))
    response = viewer_client.get(
        CONTACTS,
        {
            "last_contacted_at_from_0": "2025-03-01",
            "last_contacted_at_from_1": "00:00",
            "last_contacted_at_to_0": "2025-03-01",
            "last_contacted_at_to_1": "23:59",
        },
    )
    assert [contact.pk for contact in response.context["cl"].result_list] == [inside.pk]


def test_a_note_date_filter_past_9999_in_utc_is_ignored_with_a_message(staff_client, new_york):
    url = reverse("admin:crm_admin_contactnote_changelist")
    response = staff_client.get(url, {"created_at__gte": "9999-12-31 23:59"})
    assert response.status_code == 200
    assert "was ignored" in " ".join(messages_of(response))
