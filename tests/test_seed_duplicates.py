"""`crm_seed`'s phones and near-duplicates: phone numbers unique but for a planted ~1% of
contacts repeating another (its phone written another way, or its name at its company), and
~1% of companies repeating another (a name variant, or its website); all by the seed."""

from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command

from crm_admin.matching import company_name_key, domain_key, person_name_key, phone_key
from crm_admin.models import Company, Contact

pytestmark = pytest.mark.django_db


def seed(**sizes) -> None:
    sizes = {"companies": 400, "contacts": 3000, "deals": 0, "notes": 0, "seed": 7, **sizes}
    call_command("crm_seed", **sizes, tags=2, owners=1, stdout=StringIO())


def groups(rows) -> list[list]:
    """The groups of rows sharing a key: rows are (key, value...), keys '' or None left out."""
    by_key = defaultdict(list)
    for key, *values in rows:
        if key and (not isinstance(key, tuple) or all(key)):
            by_key[key].append(values)
    return [members for members in by_key.values() if len(members) > 1]


def test_seeded_phones_are_unique_but_for_a_few_twins_written_another_way():
    seed()

    contacts = list(Contact.objects.values_list("phone_key", "phone", "first_name", "last_name"))
    assert all(key == phone_key(phone) for key, phone, *_names in contacts)
    assert sum(1 for key, *_rest in contacts if key) > 0.8 * len(contacts), "most have a phone"
    same_phone = groups(contacts)
    # About 1% of 3,000, in pairs: never the hundreds of groups of 100 numbers per area code.
    assert 8 <= len(same_phone) <= 60, len(same_phone)
    assert all(len(members) <= 3 for members in same_phone)
    for members in same_phone:
        assert len({phone for phone, *_names in members}) == len(members), "written otherwise"
        assert len({person_name_key(*names) for _phone, *names in members}) == 1, "same person"


def test_a_few_seeded_contacts_share_a_name_at_their_company_under_another_email():
    seed()

    rows = Contact.objects.values_list(
        "company", "name_match_key", "first_name", "last_name", "email"
    )
    assert all(key == person_name_key(first, last) for _c, key, first, last, _e in rows)
    same_name = groups(((company, key), email) for company, key, _first, _last, email in rows)
    assert 8 <= len(same_name) <= 60, len(same_name)
    assert all(len({email for (email,) in members}) == len(members) for members in same_name)


def test_a_few_seeded_companies_are_a_name_variant_or_share_a_website():
    seed(companies=5000, contacts=0)

    companies = list(Company.objects.values_list("name_match_key", "domain_key", "name", "website"))
    assert all(
        (name_key, domain) == (company_name_key(name), domain_key(website))
        for name_key, domain, name, website in companies
    )
    same_name = groups((name_key, name) for name_key, _domain, name, _site in companies)
    same_site = groups((domain, website) for _name_key, domain, _name, website in companies)
    # About 1% of 5,000: "Anchor Works LLC" and "Anchor Works L.L.C.", or a shared domain.
    assert 12 <= len(same_name) <= 60, len(same_name)
    assert 20 <= len(same_site) <= 100, len(same_site)
    assert len(same_site) > len(same_name), "some share only their website"
    # Each shared domain is one company's, written as the seed writes it, and its twins'.
    for members in same_site:
        hosts = {
            website.split("//")[1].split("/")[0].removeprefix("www.") for (website,) in members
        }
        (host,) = hosts
        assert sum(website == f"https://www.{host}" for (website,) in members) == 1, members
    assert all(len({name for (name,) in members}) == len(members) for members in same_name)


def test_the_same_seed_plants_the_same_rows():
    def seeded() -> tuple[list, list]:
        seed(companies=200, contacts=1000)
        contacts = list(
            Contact.objects.order_by("pk").values_list("first_name", "last_name", "email", "phone")
        )
        companies = list(Company.objects.order_by("pk").values_list("name", "website"))
        return companies, contacts

    first = seeded()
    Contact.objects.all().delete()
    Company.objects.all().delete()

    assert seeded() == first
