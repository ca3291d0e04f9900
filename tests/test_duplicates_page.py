"""The duplicates pages of the company and contact lists: groups of likely duplicates, largest
first, one tab per match rule, paged, at a constant number of queries, for whom may view."""

import re

import pytest
from django.urls import reverse

from crm_admin.duplicates import GROUPS_PER_PAGE, MEMBERS_PER_GROUP
from crm_admin.models import Company, Contact
from tests.factories import make_company, make_contact, make_user

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_admin_contact_duplicates")
COMPANIES = reverse("admin:crm_admin_company_duplicates")
# The session, the user; then the groups' count, this page's groups, their members.
QUERIES_PER_PAGE = 5


def page_of(client, url: str, **query) -> str:
    response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode()


def group_sizes(page: str) -> list[int]:
    return [int(size) for size in re.findall(r'data-group data-size="(\d+)"', page)]


def change_url(obj) -> str:
    return reverse(f"admin:crm_admin_{obj._meta.model_name}_change", args=[obj.pk])


def contacts_sharing(phone: str, count: int, **fields) -> list[Contact]:
    return [make_contact(phone=phone, **fields) for _ in range(count)]


def test_contact_groups_by_phone_largest_first_without_single_records(staff_client):
    contacts_sharing("+1 212 555 0101", 2)
    three = contacts_sharing("(212) 555-0102", 2) + contacts_sharing("+1 212 555 0102", 1)
    contacts_sharing("+1 212 555 0103", 1)
    page = page_of(staff_client, CONTACTS)
    assert group_sizes(page) == [3, 2]
    for contact in three:
        assert f'href="{change_url(contact)}"' in page
    assert page.index(three[0].email) < page.index("+1 212 555 0101")


def test_contact_groups_by_name_at_the_same_company(staff_client):
    acme, globex = make_company(name="Acme"), make_company(name="Globex")
    ann = make_contact(first_name="Ann", last_name="Lee", company=acme)
    twin = make_contact(first_name="lee", last_name="ann", company=acme)
    elsewhere = make_contact(first_name="Ann", last_name="Lee", company=globex)
    make_contact(first_name="Ann", last_name="Lee")  # no company: matches nobody by name
    page = page_of(staff_client, CONTACTS, rule="name")
    assert group_sizes(page) == [2]
    assert f'href="{change_url(ann)}"' in page and f'href="{change_url(twin)}"' in page
    assert f'href="{change_url(elsewhere)}"' not in page


def test_a_contact_group_shows_email_phone_company_and_owner(staff_client):
    owner = make_user(username="rep-ann")
    acme = make_company(name="Acme & Co")
    first = make_contact(phone="+1 212 555 0101", company=acme, owner=owner, email="a@acme.com")
    make_contact(phone="2125550101", email="b@acme.com")
    page = page_of(staff_client, CONTACTS)
    assert first.full_name in page and "a@acme.com" in page and "b@acme.com" in page
    assert "2125550101" in page and "Acme &amp; Co" in page and "rep-ann" in page


def test_company_groups_by_name_and_by_website(staff_client):
    acme = make_company(name="Acme Inc.", website="https://acme.com")
    twin = make_company(name="ACME, Ltd", website="https://other.example")
    make_contact(company=acme)
    make_company(name="Globex", website="https://www.acme.com/about")
    page = page_of(staff_client, COMPANIES)
    assert group_sizes(page) == [2]
    assert f'href="{change_url(twin)}"' in page
    assert re.search(
        r"Acme Inc\.</a>\s*</td>\s*<td[^>]*>https://acme\.com</td>\s*<td[^>]*>1</td>", page
    )
    page = page_of(staff_client, COMPANIES, rule="website")
    assert group_sizes(page) == [2]
    assert "Globex" in page and "ACME, Ltd" not in page


def test_the_tabs_offer_each_rule_of_the_model(staff_client):
    page = page_of(staff_client, CONTACTS)
    assert 'href="?rule=phone"' in page and 'href="?rule=name"' in page
    page = page_of(staff_client, COMPANIES)
    assert 'href="?rule=name"' in page and 'href="?rule=website"' in page


def test_a_big_group_shows_its_first_members_and_how_many_more(staff_client):
    members = contacts_sharing("+1 212 555 0101", MEMBERS_PER_GROUP + 2)
    page = page_of(staff_client, CONTACTS)
    assert group_sizes(page) == [MEMBERS_PER_GROUP + 2]
    assert f'href="{change_url(members[MEMBERS_PER_GROUP - 1])}"' in page
    assert f'href="{change_url(members[MEMBERS_PER_GROUP])}"' not in page
    assert "and 2 more, not shown" in page


def test_groups_are_paged(staff_client):
    for n in range(GROUPS_PER_PAGE + 3):
        contacts_sharing(f"+1 212 555 {n:04d}", 2 if n else 3)
    first = page_of(staff_client, CONTACTS)
    assert group_sizes(first) == [3] + [2] * (GROUPS_PER_PAGE - 1)
    assert "Page 1 of 2" in first and "page=2" in first
    second = page_of(staff_client, CONTACTS, page="2")
    assert group_sizes(second) == [2, 2, 2]
    # The page's links keep the rule.
    assert "?rule=phone&amp;page=2" in page_of(staff_client, CONTACTS, rule="phone")


@pytest.mark.parametrize(
    ("query", "sizes", "message"),
    [
        (
            {"page": "abc"},
            [3] + [2] * (GROUPS_PER_PAGE - 1),
            "There is no page “abc”: showing page 1",
        ),
        ({"page": "0"}, [3] + [2] * (GROUPS_PER_PAGE - 1), "showing page 1 of 2"),
        ({"page": "-3"}, [3] + [2] * (GROUPS_PER_PAGE - 1), "showing page 1 of 2"),
        ({"page": "999999"}, [2, 2, 2], "There is no page “999999”: showing page 2 of 2"),
        ({"page": "9" * 40}, [2, 2, 2], "showing page 2 of 2"),
        ({"rule": "bogus"}, [3] + [2] * (GROUPS_PER_PAGE - 1), "There is no match rule “bogus”"),
    ],
)
def test_hostile_parameters_fall_back_with_a_message(staff_client, query, sizes, message):
    for n in range(GROUPS_PER_PAGE + 3):
        contacts_sharing(f"+1 212 555 {n:04d}", 2 if n else 3)
    page = page_of(staff_client, CONTACTS, **query)
    assert group_sizes(page) == sizes
    assert message in page


def test_a_made_up_rule_is_escaped_in_the_message(staff_client):
    page = page_of(staff_client, COMPANIES, rule="<script>x</script>")
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page


def test_no_duplicates_says_so(staff_client):
    make_contact(phone="+1 212 555 0101")
    page = page_of(staff_client, CONTACTS)
    assert group_sizes(page) == [] and "No likely duplicates under this rule." in page


# --- permissions ---------------------------------------------------------------------------


def test_without_the_view_permission_the_page_is_refused(client):
    client.force_login(make_user(perms=["crm_admin.view_company"]))
    assert client.get(CONTACTS).status_code == 403
    assert client.get(COMPANIES).status_code == 200


def test_a_viewer_sees_the_groups_without_the_merge_button(client, viewer):
    contacts_sharing("+1 212 555 0101", 2)
    client.force_login(viewer)
    page = page_of(client, CONTACTS)
    assert group_sizes(page) == [2]
    assert reverse("admin:crm_admin_contact_merge") not in page


@pytest.mark.parametrize("missing", ["change", "delete"])
def test_the_merge_button_needs_change_and_delete(client, missing):
    contacts_sharing("+1 212 555 0101", 2)
    perms = {"view", "change", "delete"} - {missing}
    client.force_login(make_user(perms=[f"crm_admin.{p}_contact" for p in perms]))
    assert reverse("admin:crm_admin_contact_merge") not in page_of(client, CONTACTS)


def test_the_merge_button_sends_the_groups_records_to_the_merge_page(client):
    first, second = contacts_sharing("+1 212 555 0101", 2)
    perms = ["view_contact", "change_contact", "delete_contact"]
    client.force_login(make_user(perms=[f"crm_admin.{p}" for p in perms]))
    page = page_of(client, CONTACTS)
    merge = reverse("admin:crm_admin_contact_merge")
    assert f'href="{merge}?ids={first.pk},{second.pk}"' in page


def test_the_lists_link_to_their_duplicates_pages(staff_client):
    for model, url in ((Contact, CONTACTS), (Company, COMPANIES)):
        page = page_of(
            staff_client, reverse(f"admin:crm_admin_{model._meta.model_name}_changelist")
        )
        assert f'href="{url}"' in page


# --- queries -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [CONTACTS, f"{CONTACTS}?rule=name"])
def test_a_contacts_page_runs_the_same_queries_at_any_size(
    staff_client, django_assert_num_queries, url
):
    acme = make_company(name="Acme")
    owner = make_user()

    def seed(groups: int, size: int) -> None:
        for _ in range(groups):
            n = Contact.objects.count()
            for i in range(size):
                make_contact(
                    first_name="Ann",
                    last_name=f"Twin{n}",
                    phone=f"+1 212 555 {n:04d}",
                    company=acme if i % 2 else make_company(),
                    owner=owner,
                )
                make_contact(first_name="Twin", last_name=f"{n}", company=acme)

    seed(3, 2)
    with django_assert_num_queries(QUERIES_PER_PAGE):
        page_of(staff_client, url)
    seed(30, 6)
    with django_assert_num_queries(QUERIES_PER_PAGE):
        page = page_of(staff_client, url)
    assert len(group_sizes(page)) == GROUPS_PER_PAGE


@pytest.mark.parametrize("rule", ["name", "website"])
def test_a_companies_page_runs_the_same_queries_at_any_size(
    staff_client, django_assert_num_queries, rule
):
    def seed(groups: int, size: int) -> None:
        for _ in range(groups):
            n = Company.objects.count()
            for i in range(size):
                company = make_company(
                    name=f"Twin {n} {'Inc' if i else 'Ltd'}{'.' * i}",
                    website=f"https://twin{n}.example/{i}",
                )
                make_contact(company=company)

    seed(3, 2)
    with django_assert_num_queries(QUERIES_PER_PAGE):
        page_of(staff_client, COMPANIES, rule=rule)
    seed(30, 6)
    with django_assert_num_queries(QUERIES_PER_PAGE):
        page = page_of(staff_client, COMPANIES, rule=rule)
    assert len(group_sizes(page)) == GROUPS_PER_PAGE
