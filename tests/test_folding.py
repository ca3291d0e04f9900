"""One rule for "the same name ignoring case", whatever the script and the database: the folded
keys of crm_admin/folding.py, kept by every write path, carrying the unique constraints, and
used by the admin's validation, the import's matching and the API's lookups."""

# ruff: noqa: RUF001 (letters that look like Latin ones are the point of these tests)

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F

from crm_admin.folding import fold
from crm_admin.models import Company, Contact, Deal, Stage, Tag
from tests.factories import make_company, make_contact, make_deal, make_tag
from tests.test_admin_forms import errors_of, post_change_form
from tests.test_import import CONTACT_HEADER, DEAL_HEADER, crm_import, failing_import, write

pytestmark = pytest.mark.django_db

FIXTURES = sorted(str(p) for p in (Path(__file__).parent.parent / "fixtures").glob("*.json"))

# Spellings of one name, by script. Each second one differs from the first under SQLite's
# LOWER() (ASCII only), and the German ß and Turkish pairs under PostgreSQL's lower() too.
SAME = [
    pytest.param("Ärzte GmbH", "ärzte gmbh", id="german-umlaut"),
    pytest.param("Ärzte GmbH", "A\u0308rzte GmbH", id="german-decomposed"),
    pytest.param("Straße AG", "STRASSE AG", id="german-sharp-s"),
    pytest.param("STRAẞE AG", "straße ag", id="german-capital-sharp-s"),
    pytest.param("İstanbul Ltd", "istanbul ltd", id="turkish-dotted-i"),
    pytest.param("IŞIK Yapı", "ışık yapı", id="turkish-dotless-i"),
    pytest.param("ΟΔΟΣ", "οδος", id="greek-final-sigma"),
    pytest.param("οδοσ", "οδος", id="greek-sigma-forms"),
    pytest.param("Ромашка ООО", "РОМАШКА ооо", id="cyrillic"),
    pytest.param("Ёлка", "ЁЛКА", id="cyrillic-yo"),
    pytest.param("ＡＣＭＥ", "acme", id="full-width"),
]

# Different names, which must stay different: accents are part of a name.
DIFFERENT = [
    pytest.param("Ärzte GmbH", "Arzte GmbH", id="german"),
    pytest.param("οδός", "οδος", id="greek-tonos"),
    pytest.param("Ёлка", "Елка", id="cyrillic"),
    pytest.param("Şişli", "Sisli", id="turkish"),
]

KEYED = [
    pytest.param(Tag, "name", "name_key", lambda name: name, id="tag"),
    pytest.param(Company, "name", "name_key", lambda name: name, id="company"),
    pytest.param(Stage, "name", "name_key", lambda name: name, id="stage"),
    pytest.param(
        Contact,
        "email",
        "email_key",
        lambda name: f"Info@{name.replace(' ', '-')}.example",
        id="contact",
    ),
]


def create(model, field, value):
    extra = {"first_name": "Ann"} if model is Contact else {}
    return model.objects.create(**{field: value}, **extra)


@pytest.mark.parametrize(("first", "second"), SAME)
def test_spellings_of_one_name_fold_to_one_key(first, second):
    assert fold(first) == fold(second)
    assert fold(f"  {first}\t") == fold(first)


@pytest.mark.parametrize(("first", "second"), DIFFERENT)
def test_different_names_fold_to_different_keys(first, second):
    assert fold(first) != fold(second)


@pytest.mark.parametrize(("model", "field", "key", "value"), KEYED)
@pytest.mark.parametrize(("first", "second"), SAME)
def test_the_database_refuses_a_second_spelling(model, field, key, value, first, second):
    create(model, field, value(first))
    duplicate = model(**{field: value(second)})
    with pytest.raises(ValidationError, match="already exists"):
        duplicate.validate_constraints()
    with pytest.raises(IntegrityError), transaction.atomic():
        create(model, field, value(second))


@pytest.mark.parametrize(("model", "field", "key", "value"), KEYED)
@pytest.mark.parametrize(("first", "second"), DIFFERENT)
def test_different_names_are_both_accepted(model, field, key, value, first, second):
    create(model, field, value(first))
    model(**{field: value(second)}).validate_constraints()
    create(model, field, value(second))
    keys = [fold(value(first)), fold(value(second))]
    assert model.objects.filter(**{f"{key}__in": keys}).count() == 2


# Every write path keeps the key.


def test_a_save_of_the_name_alone_writes_its_key():
    tag = make_tag(name="Straße")
    tag.name = "Ärzte"
    tag.save(update_fields=["name"])
    assert Tag.objects.get(pk=tag.pk).name_key == "ärzte"
    with pytest.raises(IntegrityError), transaction.atomic():
        make_tag(name="ÄRZTE")


def test_bulk_create_and_bulk_update_write_the_keys():
    first, second = Company.objects.bulk_create([Company(name="Ärzte"), Company(name="Ёлка")])
    assert sorted(Company.objects.values_list("name_key", flat=True)) == ["ärzte", "ёлка"]
    first.name, second.name = "STRAẞE", "ΟΔΟΣ"
    Company.objects.bulk_update([first, second], ["name"])
    assert sorted(Company.objects.values_list("name_key", flat=True)) == ["strasse", "οδοσ"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Company.objects.bulk_create([Company(name="Strasse")])


def test_update_of_a_name_writes_its_key_and_refuses_an_expression():
    contact = make_contact(email="ann@example.com")
    Contact.objects.filter(pk=contact.pk).update(email="ANN@ÄRZTE.DE")
    assert Contact.objects.get(pk=contact.pk).email_key == "ann@ärzte.de"
    with pytest.raises(TypeError, match="email_key"):
        Contact.objects.filter(pk=contact.pk).update(email=F("first_name"))


def test_fixtures_load_with_their_keys():
    call_command("loaddata", *FIXTURES, verbosity=0)
    for model, source, key in (
        (Tag, "name", "name_key"),
        (Company, "name", "name_key"),
        (Contact, "email", "email_key"),
        (Stage, "name", "name_key"),
    ):
        rows = list(model.objects.values_list(source, key))
        assert rows, model
        assert all(stored == fold(value) for value, stored in rows), model


def test_a_fixture_naming_a_tag_in_another_spelling_updates_that_tag(tmp_path):
    tag = make_tag(name="Straße")
    fixture = tmp_path / "tags.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "crm_admin.tag",
                    "fields": {"name": "STRASSE", "created_at": "2026-01-05T09:00:00Z"},
                }
            ]
        ),
        encoding="utf-8",
    )
    call_command("loaddata", str(fixture), verbosity=0)
    assert list(Tag.objects.filter(name_key="strasse").values_list("pk", "name")) == [
        (tag.pk, "STRASSE")
    ]


# The admin's forms show the constraint's message.


@pytest.mark.parametrize(
    ("model", "fields", "existing", "message"),
    [
        (
            "company",
            {"name": "ÄRZTE GMBH"},
            lambda: make_company(name="Ärzte GmbH"),
            "A company with this name already exists.",
        ),
        ("tag", {"name": "STRASSE"}, lambda: make_tag(name="Straße"), "A tag with this name"),
        (
            "contact",
            {"first_name": "Anna", "email": "INFO@ÄRZTE.DE"},
            lambda: make_contact(email="info@ärzte.de"),
            "A contact with this email already exists.",
        ),
        (
            "company",
            {"name": "İSTANBUL LTD"},
            lambda: make_company(name="istanbul ltd"),
            "A company with this name already exists.",
        ),
    ],
)
def test_admin_form_refuses_another_spelling_with_the_message(
    staff_client, model, fields, existing, message
):
    existing()
    model_class = {"company": Company, "tag": Tag, "stage": Stage, "contact": Contact}[model]
    before = model_class.objects.count()
    response = post_change_form(staff_client, model, **fields)
    assert message in errors_of(response)
    assert model_class.objects.count() == before


def test_stage_form_refuses_renaming_to_another_spelling_of_a_stage(staff_client):
    Stage.objects.create(name="οδος")
    negotiation = Stage.objects.get(name="Negotiation")
    response = post_change_form(staff_client, "stage", negotiation, name="ΟΔΟΣ")
    assert "A stage with this name already exists." in errors_of(response)
    negotiation.refresh_from_db()
    assert negotiation.name == "Negotiation"


def test_admin_form_accepts_a_new_spelling_of_the_same_record(staff_client):
    company = make_company(name="Ärzte GmbH")
    response = post_change_form(staff_client, "company", company, name="ÄRZTE GMBH")
    assert response.status_code == 302
    company.refresh_from_db()
    assert (company.name, company.name_key) == ("ÄRZTE GMBH", "ärzte gmbh")


# The import matches by the same rule: an existing record is updated, never doubled.


def test_company_import_updates_the_company_of_another_spelling(tmp_path):
    company = make_company(name="Ärzte GmbH", industry="")
    path = write(tmp_path, "c.csv", "name,industry\nÄRZTE GMBH,Health\nStrasse AG,Building\n")
    out, _err = crm_import("companies", path)
    assert "2 rows: 1 created, 1 updated" in out
    company.refresh_from_db()
    assert (company.name, company.industry) == ("ÄRZTE GMBH", "Health")
    assert Company.objects.count() == 2


def test_company_import_refuses_two_spellings_of_one_name(tmp_path):
    path = write(tmp_path, "c.csv", "name\nStraße AG\nSTRASSE AG\n")
    _message, err = failing_import("companies", path)
    assert "row 3, column name: The same record as row 2" in err
    assert not Company.objects.exists()


def test_contact_import_matches_email_company_and_tags_in_any_script(tmp_path):
    company = make_company(name="STRASSE GMBH")
    tag = make_tag(name="ΟΔΟΣ")
    ann = make_contact(email="info@ärzte.de", first_name="Ann")
    tags_before = Tag.objects.count()
    path = write(
        tmp_path,
        "contacts.csv",
        CONTACT_HEADER
        + "Anna,Ärztin,INFO@ÄRZTE.DE,,,,Straße GmbH,οδος,\n"
        + "Işık,Yılmaz,ISIK@ÖRNEK.COM.TR,,,,STRAẞE GMBH,Οδος,\n",
    )
    out, _err = crm_import("contacts", path)
    assert "2 rows: 1 created, 1 updated" in out
    assert "Also created" not in out
    assert (Company.objects.count(), Tag.objects.count()) == (1, tags_before)
    ann.refresh_from_db()
    assert (ann.first_name, ann.company_id) == ("Anna", company.pk)
    assert list(ann.tags.all()) == [tag]
    assert Contact.objects.get(email_key="isik@örnek.com.tr").company_id == company.pk


def test_deal_import_matches_stage_contact_and_title_in_any_script(tmp_path):
    review = Stage.objects.create(name="ANGEBOT GEMÄSS")
    contact = make_contact(email="info@straße.de")
    deal = make_deal(title="STRASSENBAU", contact=contact)
    path = write(
        tmp_path, "d.csv", DEAL_HEADER + ",Straßenbau,INFO@STRASSE.DE,500.00,Angebot gemäß,,,,\n"
    )
    out, _err = crm_import("deals", path)
    assert "1 rows: 0 created, 1 updated" in out
    deal.refresh_from_db()
    assert (deal.title, deal.stage_id, Deal.objects.count()) == ("Straßenbau", review.pk, 1)


# The API looks names up by the key.


def test_api_filters_find_names_in_any_script(staff_client):
    company = make_company(name="Ärzte GmbH")
    greek = make_tag(name="Οδός")
    stage = Stage.objects.create(name="Straße")
    contact = make_contact(company=company, tags=[greek])
    deal = make_deal(contact=contact, stage=stage)
    make_contact()

    def ids(path):
        response = staff_client.get(path)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("/api/crm/contacts/?company=ÄRZTE GMBH") == [contact.pk]
    assert ids("/api/crm/contacts/?tags=ΟΔΌΣ") == [contact.pk]
    assert ids("/api/crm/deals/?stage=STRASSE") == [deal.pk]
    assert staff_client.get("/api/crm/contacts/?tags=Οδος").status_code == 400


# Migration 0007 fills the keys of existing rows, and refuses rows that collide once folded.

BEFORE = [("crm_admin", "0006_board_cards_index_postgresql")]
AFTER = [("crm_admin", "0007_folded_keys")]


def migrate_to(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migration_fills_the_keys_of_existing_rows():
    try:
        old = migrate_to(BEFORE)
        old.get_model("crm_admin", "Company").objects.create(name="Ärzte GmbH")
        old.get_model("crm_admin", "Contact").objects.create(first_name="A", email="A@Ё.example")
        migrate_to(AFTER)
        with connection.cursor() as cursor:
            cursor.execute("SELECT name_key FROM crm_admin_company")
            assert cursor.fetchall() == [("ärzte gmbh",)]
            cursor.execute("SELECT email_key FROM crm_admin_contact")
            assert cursor.fetchall() == [("a@ё.example",)]
            cursor.execute("SELECT name, name_key FROM crm_admin_stage ORDER BY id")
            assert ("Closed-Won", "closed-won") in cursor.fetchall()
    finally:
        migrate_to_latest()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_migration_refuses_rows_that_collide_once_folded():
    try:
        old = migrate_to(BEFORE)
        Company = old.get_model("crm_admin", "Company")
        first = Company.objects.create(name="Straße AG")
        second = Company.objects.create(name="STRASSE AG")
        with pytest.raises(CommandError) as refused:
            migrate_to(AFTER)
        with connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, "crm_admin_company")
        # Renamed, as the message asks, so that the database can go forward again.
        Company.objects.filter(pk=second.pk).update(name="Strasse Bau AG")
        message = str(refused.value)
        assert f"companies: “Straße AG” (id {first.pk}), “STRASSE AG” (id {second.pk})" in message
        assert "Nothing was changed" in message
        assert "name_key" not in {column.name for column in columns}
    finally:
        migrate_to_latest()
