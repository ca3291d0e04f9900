"""The match keys (crm_admin/matching.py) are right however a company or contact is written:
saves, updates, bulk writes, fixtures, the admin, the import, the seed, the migration that
added them, and `crm_match_keys` once CRM_PHONE_REGION changes."""

# ruff: noqa: RUF001 (letters that look like Latin ones are the point of these tests)

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.db.models.functions import Upper

from crm_admin.folding import FoldedKeysQuerySet, derived_keys
from crm_admin.models import Company, Contact
from tests.factories import make_company, make_contact, make_tag
from tests.test_admin_actions import CONTACTS, messages_of, run_action
from tests.test_admin_forms import post_change_form
from tests.test_folding import migrate_to, migrate_to_latest
from tests.test_import import crm_import, write

pytestmark = pytest.mark.django_db

MATCH_KEYS = {
    Company: ("name_match_key", "domain_key"),
    Contact: ("name_match_key", "phone_key"),
}


def stored(obj) -> tuple:
    """The match keys of `obj` as the database has them."""
    model = type(obj)
    return model.objects.filter(pk=obj.pk).values_list(*MATCH_KEYS[model]).get()


def stale_keys(model) -> list[tuple[int, str, str]]:
    """(pk, key, stored value) of every derived key of `model` not derived from its row."""
    fields = derived_keys(model)
    return [
        (row.pk, name, getattr(row, name))
        for row in model.objects.order_by("pk")
        for name, field in fields.items()
        if getattr(row, name) != field.derive_for(row)
    ]


# --- the ORM -------------------------------------------------------------------------------


def test_save_writes_the_keys_on_create_and_on_edit():
    company = Company.objects.create(name="Ärzte GmbH & Co. KG", website="https://www.ärzte.de/")
    assert stored(company) == ("arzte", "ärzte.de")
    company.name, company.website = "ООО «Ромашка»", "http://xn--80aa3agjl3d.xn--p1ai/"
    company.save()
    assert stored(company) == ("ромашка", "ромашка.рф")

    contact = Contact.objects.create(
        first_name="Фёдор", last_name="Ёлкин", email="f@example.com", phone="(212) 555-0142"
    )
    assert stored(contact) == ("елкин федор", "+12125550142")
    contact.first_name, contact.phone = "José", ""
    contact.save()
    assert stored(contact) == ("jose елкин", "")


def test_a_save_of_one_source_writes_the_key_from_both():
    contact = make_contact(first_name="José", last_name="Smith", phone="(212) 555-0142")
    contact.last_name = "Jones"
    contact.save(update_fields=["last_name"])
    assert stored(contact) == ("jones jose", "+12125550142")
    contact.phone = "+44 20 7946 0958"
    contact.save(update_fields=["phone"])
    assert stored(contact) == ("jones jose", "+442079460958")


def test_update_with_every_source_derives_the_keys_in_the_one_update(django_assert_num_queries):
    contact = make_contact()
    company = make_company()
    with django_assert_num_queries(1):
        Contact.objects.filter(pk=contact.pk).update(
            first_name="Фёдор", last_name="Ёлкин", phone="+44 20 7946 0958"
        )
    with django_assert_num_queries(1):
        Company.objects.filter(pk=company.pk).update(name="Acme Inc.", website="www.acme.com")
    assert stored(contact) == ("елкин федор", "+442079460958")
    assert stored(company) == ("acme", "acme.com")


def test_update_of_one_source_recomputes_each_rows_key_even_out_of_the_filter():
    lee = make_contact(first_name="Ann", last_name="Lee")
    smith = make_contact(first_name="Ann", last_name="Smith")
    bob = make_contact(first_name="Bob", last_name="Ann")
    assert Contact.objects.filter(first_name="Ann").update(first_name="Ånna") == 2
    assert not Contact.objects.filter(first_name="Ann").exists()
    assert [stored(c)[0] for c in (lee, smith, bob)] == ["ana le", "ana smit", "an bob"]


def test_update_with_an_expression_is_refused_and_changes_nothing():
    contact = make_contact(first_name="Ann", last_name="Lee", phone="", title="+1 212 555 0142")
    company = make_company(name="Acme", website="")
    with pytest.raises(TypeError, match="phone_key"):
        Contact.objects.filter(pk=contact.pk).update(phone=F("title"))
    with pytest.raises(TypeError, match="name_match_key"):
        Contact.objects.filter(pk=contact.pk).update(last_name=Upper("last_name"))
    with pytest.raises(TypeError, match="domain_key"):
        Company.objects.filter(pk=company.pk).update(website=F("name"))
    assert stored(contact) == ("an le", "")
    assert Contact.objects.get(pk=contact.pk).last_name == "Lee"


def test_bulk_create_and_bulk_update_write_the_keys():
    acme, globex = Company.objects.bulk_create(
        [Company(name="Acme S.A. de C.V.", website="acme.mx"), Company(name="株式会社トヨタ")]
    )
    ann, bob = Contact.objects.bulk_create(
        [
            Contact(first_name="Ann", last_name="Lee", email="a@example.com", phone="5550142"),
            Contact(first_name="Bob", email="b@example.com", phone="+1 212 555 0142 x7"),
        ]
    )
    assert [stored(c) for c in (acme, globex)] == [("acme", "acme.mx"), ("トヨタ", "")]
    assert [stored(c) for c in (ann, bob)] == [
        ("an le", "+15550142"),
        ("bob", "+12125550142;ext=7"),
    ]

    acme.website, globex.name = "https://www.acme.com.mx", "トヨタ自動車株式会社"
    Company.objects.bulk_update([acme, globex], ["website", "name"])
    ann.last_name, bob.phone = "Lee-Smith", ""
    Contact.objects.bulk_update([ann, bob], ["last_name"])
    Contact.objects.bulk_update([bob], ["phone"])
    assert [stored(c) for c in (acme, globex)] == [("acme", "acme.com.mx"), ("トヨタ自動車", "")]
    assert [stored(c) for c in (ann, bob)] == [("an le smit", "+15550142"), ("bob", "")]


def test_a_fixture_without_keys_loads_with_them(tmp_path):
    fixture = tmp_path / "records.json"
    fields = {"created_at": "2026-01-05T09:00:00Z", "updated_at": "2026-01-05T09:00:00Z"}
    rows = [
        {
            "model": "crm_admin.company",
            "pk": 901,
            "fields": {"name": "Acme GmbH", "website": "https://www.acme.de", **fields},
        },
        {
            "model": "crm_admin.contact",
            "pk": 902,
            "fields": {
                "first_name": "Jürgen",
                "last_name": "Müller",
                "email": "jm@acme.de",
                "phone": "030 123456",
                "status": "new",
                "company": 901,
                **fields,
            },
        },
    ]
    fixture.write_text(json.dumps(rows), encoding="utf-8")
    call_command("loaddata", str(fixture), verbosity=0)
    assert stored(Company(pk=901)) == ("acme", "acme.de")
    assert stored(Contact(pk=902)) == ("jurgen muler", "030123456")  # US region: not national


# --- the admin -----------------------------------------------------------------------------


def test_the_admin_forms_write_the_keys(staff_client):
    response = post_change_form(
        staff_client, "company", name="Société Générale S.A.", website="https://www.sg.example"
    )
    assert response.status_code == 302
    company = Company.objects.get(name="Société Générale S.A.")
    assert stored(company) == ("societegenerale", "sg.example")
    response = post_change_form(staff_client, "company", company, website="https://sg2.example/x")
    assert response.status_code == 302
    assert stored(company) == ("societegenerale", "sg2.example")

    response = post_change_form(
        staff_client,
        "contact",
        first_name="Zoë",
        last_name="Ångström",
        email="zoe@sg.example",
        phone="+44 (0)20 7946 0958",
        company=str(company.pk),
    )
    assert response.status_code == 302
    zoe = Contact.objects.get(email="zoe@sg.example")
    assert stored(zoe) == ("angstrom zoe", "+442079460958")
    response = post_change_form(staff_client, "contact", zoe, last_name="Nilsson", phone="")
    assert response.status_code == 302
    assert stored(zoe) == ("nilson zoe", "")


def test_the_contact_list_actions_leave_the_keys_right(staff_client):
    tag = make_tag(name="VIP")
    contacts = [
        make_contact(first_name="Фёдор", last_name="Ёлкин", phone="(212) 555-0142"),
        make_contact(first_name="Zoë", last_name="", phone="+44 20 7946 0958"),
    ]
    expected = [("елкин федор", "+12125550142"), ("zoe", "+442079460958")]
    selected = [c.pk for c in contacts]
    for action, extra in (
        ("set_status", {"status": "contacted"}),
        ("add_tags", {"tags": [tag.pk]}),
        ("remove_tags", {"tags": [tag.pk]}),
        ("set_next_step", {"text": "Call back", "due": ""}),
    ):
        response = run_action(staff_client, CONTACTS, action, selected, apply="1", **extra)
        assert response.redirect_chain == [(CONTACTS, 302)], action
        assert messages_of(response), action
        assert [stored(c) for c in contacts] == expected, action
    assert Contact.objects.filter(status="contacted", next_step="Call back").count() == 2


# --- the import and the seed ---------------------------------------------------------------


def test_the_import_writes_the_keys_of_the_rows_it_creates_and_updates(tmp_path):
    acme = make_company(name="Acme Inc", website="")
    ann = make_contact(first_name="Ann", last_name="Lee", email="ann@acme.example", phone="")
    companies = write(
        tmp_path,
        "companies.csv",
        "name,industry,website\nACME INC,Tools,https://www.acme.example/\n"
        "Globex GmbH,Software,globex.example\n",
    )
    out, _err = crm_import("companies", companies)
    assert "1 created, 1 updated" in out
    contacts = write(
        tmp_path,
        "contacts.csv",
        "email,first_name,phone,company\n"
        "ANN@ACME.EXAMPLE,Anne,(212) 555-0142,Acme Inc\n"
        "jm@initech.example,Jürgen,+49 30 123456,Initech Ltd\n",
    )
    out, _err = crm_import("contacts", contacts)
    assert "1 created, 1 updated" in out
    assert stored(acme) == ("acme", "acme.example")
    assert stored(Company.objects.get(name="Globex GmbH")) == ("globex", "globex.example")
    assert stored(Company.objects.get(name="Initech Ltd")) == ("initech", "")
    assert stored(ann) == ("ane le", "+12125550142")  # the last name as stored
    assert stored(Contact.objects.get(email="jm@initech.example")) == ("jurgen", "+4930123456")
    assert stale_keys(Company) == stale_keys(Contact) == []


def test_the_seed_writes_the_keys():
    call_command(
        "crm_seed",
        companies=4,
        contacts=12,
        deals=3,
        notes=2,
        tags=2,
        owners=1,
        seed=7,
        stdout=StringIO(),
    )
    assert Contact.objects.exclude(phone_key="").exists()
    assert Company.objects.exclude(domain_key="").count() == 4
    assert stale_keys(Company) == stale_keys(Contact) == []


# --- crm_match_keys: after CRM_PHONE_REGION changes ------------------------------------------


def rekey(*args) -> str:
    out = StringIO()
    call_command("crm_match_keys", *args, stdout=out)
    return out.getvalue()


def test_changing_the_phone_region_needs_crm_match_keys_which_rewrites_the_keys(settings):
    london = make_contact(phone="020 7946 0958")
    international = make_contact(phone="+44 20 7946 0958")
    new_york = make_contact(phone="+1 212 555 0142")
    updated_at = Contact.objects.get(pk=london.pk).updated_at
    assert stored(london)[1] == "02079460958"  # read in the US: no number there

    settings.CRM_PHONE_REGION = "GB"
    assert stored(london)[1] == "02079460958"  # stored keys stay until recomputed
    assert "contacts: 1 of 3 rows rewritten." in rekey()
    assert [stored(c)[1] for c in (london, international, new_york)] == [
        "+442079460958",
        "+442079460958",
        "+12125550142",
    ]
    assert Contact.objects.get(pk=london.pk).updated_at == updated_at
    assert "contacts: 0 of 3 rows rewritten." in rekey()


def test_crm_match_keys_repairs_every_derived_key_of_every_model():
    company = make_company(name="Acme GmbH", website="acme.de")
    contact = make_contact(first_name="Ann", last_name="Lee", email="Ann@Example.com")
    tag = make_tag(name="VIP")
    # Written behind the keys' back, as a raw statement would.
    Company.objects.filter(pk=company.pk).update(name_match_key="stale", domain_key="stale")
    Contact.objects.filter(pk=contact.pk).update(name_match_key="x", email_key="x", phone_key="x")
    type(tag).objects.filter(pk=tag.pk).update(name_key="stale")
    out = rekey("--batch-size", "1")
    assert "companies: 1 of 1 rows rewritten." in out
    assert "contacts: 1 of 1 rows rewritten." in out
    assert "tags: 1 of" in out
    assert stale_keys(Company) == stale_keys(Contact) == stale_keys(type(tag)) == []
    assert stored(company) == ("acme", "acme.de")


@pytest.mark.parametrize("size", ["0", "-5", "100001", "9" * 20])
def test_crm_match_keys_refuses_a_batch_size_out_of_bounds(size):
    contact = make_contact(phone="+1 212 555 0142")
    Contact.objects.filter(pk=contact.pk).update(phone_key="stale")
    with pytest.raises(CommandError, match="between 1 and 100000"):
        rekey("--batch-size", size)
    assert stored(contact)[1] == "stale"


def test_derive_keys_reads_once_and_writes_one_update_per_batch_with_a_change(
    settings, django_assert_num_queries
):
    contacts = [make_contact(phone=f"020 7946 09{n:02d}") for n in range(5)]
    make_contact(phone="+1 212 555 0142")  # its key does not depend on the region
    settings.CRM_PHONE_REGION = "GB"
    rows = FoldedKeysQuerySet(Contact)
    with django_assert_num_queries(4):  # one read, three batches of two, each with a change
        assert rows.derive_keys(["phone_key"], batch_size=2) == 5
    assert [stored(c)[1] for c in contacts] == [f"+4420794609{n:02d}" for n in range(5)]
    with django_assert_num_queries(1):
        assert rows.derive_keys(batch_size=2) == 0


# --- migration 0015 fills the keys of existing rows -----------------------------------------

BEFORE = [("crm_admin", "0014_roles_and_visibility")]
AFTER = [("crm_admin", "0015_duplicates_and_merges")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migration_fills_the_match_keys_of_existing_rows():
    try:
        old = migrate_to(BEFORE)
        company = old.get_model("crm_admin", "Company").objects.create(
            name="Ärzte GmbH & Co. KG", website="https://www.xn--rzte-koa.de/team"
        )
        old.get_model("crm_admin", "Contact").objects.create(
            first_name="Фёдор",
            last_name="Ёлкин",
            email="f@example.com",
            phone="(212) 555-0142",
            company_id=company.pk,
        )
        old.get_model("crm_admin", "Contact").objects.create(first_name="Ann", email="a@b.example")
        migrate_to(AFTER)
        with connection.cursor() as cursor:
            cursor.execute("SELECT name_match_key, domain_key FROM crm_admin_company")
            assert cursor.fetchall() == [("arzte", "ärzte.de")]
            cursor.execute(
                "SELECT name_match_key, phone_key FROM crm_admin_contact ORDER BY first_name"
            )
            assert cursor.fetchall() == [("an", ""), ("елкин федор", "+12125550142")]
    finally:
        migrate_to_latest()
