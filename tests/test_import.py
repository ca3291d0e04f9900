"""`crm_import` and the resources behind it: good files, every class of bad input (the database
unchanged afterwards), re-import idempotency and the all-or-nothing guarantee."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from crm_admin.models import Company, Contact, Deal, Tag
from crm_admin.resources import ContactResource, DealResource, read_csv
from tests.factories import make_contact, make_deal, make_tag, make_user, stage

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
CONTACT_HEADER = "first_name,last_name,email,phone,title,status,company,tags,last_contacted_at\n"
DEAL_HEADER = "id,title,contact_email,amount,stage,probability,expected_close_date,owner,tags\n"


def crm_import(model: str, path, *args) -> tuple[str, str]:
    """Run the command as an operator would; (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("crm_import", model, str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing_import(model: str, path, *args) -> tuple[str, str]:
    """Run the command expecting it to refuse; (the CommandError's message, stderr)."""
    err = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("crm_import", model, str(path), *args, stdout=StringIO(), stderr=err)
    return str(refused.value), err.getvalue()


def snapshot() -> dict:
    """Every CRM row and link, to prove that a refused import changed nothing."""
    models = (Company, Contact, Deal, Tag, Contact.tags.through, Deal.tags.through)
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in models}


def write(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def seller(db):
    return make_user(username="seller", email="seller@example.com")


@pytest.fixture
def crm(seller):
    """The good companies, contacts and deals files, imported."""
    crm_import("companies", DATA / "companies.csv")
    crm_import("contacts", DATA / "contacts.csv")
    crm_import("deals", DATA / "deals.csv")


# --- good files --------------------------------------------------------------------------


def test_companies_file_creates_companies_and_assumes_https():
    out, _err = crm_import("companies", DATA / "companies.csv")
    assert "companies: 3 rows: 3 created, 0 updated, 0 unchanged, 0 errors." in out
    globex = Company.objects.get(name="Globex")
    assert (globex.industry, globex.website) == ("Software", "https://globex.example.com")


def test_contacts_file_creates_contacts_their_new_companies_and_tags():
    make_company_acme = Company.objects.create(name="Acme")
    out, _err = crm_import("contacts", DATA / "contacts.csv")
    assert "4 created" in out and "Also created: 1 company, 2 tags." in out
    ann = Contact.objects.get(email="ann.lee@example.com")
    assert ann.company == make_company_acme
    assert sorted(t.name for t in ann.tags.all()) == ["Newsletter", "VIP"]
    assert ann.phone == "+1 555 0100"
    assert ann.last_contacted_at == datetime(2025, 3, 31, 12, 30, tzinfo=UTC)
    bob = Contact.objects.get(email="bob@example.com")
    assert bob.status == Contact.Status.PENDING_RESPONSE  # given as its label
    assert bob.company.name == "Globex"
    carla = Contact.objects.get(email="carla@example.com")
    assert carla.company == make_company_acme  # "acme": the same company, ignoring case
    assert [t.name for t in carla.tags.all()] == ["VIP"]
    dev = Contact.objects.get(email="dev@example.com")
    assert (dev.status, dev.company, dev.last_contacted_at) == ("new", None, None)


def test_semicolon_file_with_bom_and_human_labels_is_read():
    out, _err = crm_import("contacts", DATA / "contacts_semicolon_bom.csv")
    assert "2 created" in out
    zoe = Contact.objects.get(email="zoe@example.com")
    assert (zoe.first_name, zoe.last_name, zoe.title) == ("Zoë", "Brontë", "Ingénieure")
    assert zoe.status == Contact.Status.IN_DISCUSSION
    assert zoe.company.name == "Société Générale"


def test_windows_1252_file_is_decoded():
    crm_import("contacts", DATA / "contacts_cp1252.csv")
    jose = Contact.objects.get(email="jose@example.com")
    assert (jose.first_name, jose.last_name) == ("José", "Müller")
    assert jose.title == "“Chief” of € budgets"
    assert jose.company.name == "Café Crème"


def test_deals_file_resolves_contacts_stages_owners_and_closes_lost_deals(seller):
    crm_import("contacts", DATA / "contacts.csv")
    out, _err = crm_import("deals", DATA / "deals.csv")
    assert "3 created" in out and "Also created: 2 tags." in out
    renewal = Deal.objects.get(title="Acme renewal")
    assert renewal.contact.email == "ann.lee@example.com"
    assert (renewal.amount, renewal.probability) == (Decimal("12000.50"), 20)
    assert renewal.owner == seller  # by username
    assert str(renewal.expected_close_date) == "2025-06-30"
    assert renewal.closed_at is None
    assert sorted(t.name for t in renewal.tags.all()) == ["Q3", "Renewal"]
    pilot = Deal.objects.get(title="Globex pilot")
    assert (pilot.owner, pilot.probability, pilot.stage.name) == (seller, 60, "Negotiation")
    lost = Deal.objects.get(title="Lost cause")
    assert lost.stage.name == "Closed-Lost" and lost.closed_at is not None


def test_xlsx_and_json_files_are_read(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["name", "industry", "website"])
    book.active.append(["Xlsx Co", "Retail", None])
    book.save(tmp_path / "companies.xlsx")
    (tmp_path / "companies.json").write_text(json.dumps([{"name": "Json Co", "industry": ""}]))
    crm_import("companies", tmp_path / "companies.xlsx")
    crm_import("companies", tmp_path / "companies.json")
    assert set(Company.objects.values_list("name", "industry")) == {
        ("Xlsx Co", "Retail"),
        ("Json Co", ""),
    }


def test_unknown_columns_are_ignored_and_named(tmp_path):
    path = write(tmp_path, "c.csv", "Name,Notes from old CRM\nAcme,call back\n")
    out, _err = crm_import("companies", path)
    assert "Ignored columns: Notes from old CRM." in out
    assert Company.objects.get().name == "Acme"


def test_progress_bar_is_drawn_on_stderr_when_asked():
    _out, err = crm_import("contacts", DATA / "contacts.csv", "--progress")
    assert "\rchecking [" in err and "\rwriting  [" in err and "4/4" in err


def test_contacts_file_sets_owners_and_next_steps(crm, seller):
    out, _err = crm_import("contacts", DATA / "contacts_next_steps.csv")
    assert "0 created, 2 updated, 1 unchanged" in out
    ann = Contact.objects.get(email="ann.lee@example.com")
    assert (ann.owner, ann.next_step, ann.next_step_due) == (
        seller,
        "Send the revised quote",
        date(2026, 1, 5),
    )
    bob = Contact.objects.get(email="bob@example.com")
    assert (bob.owner, bob.next_step, bob.next_step_due) == (seller, "Call about the pilot", None)
    carla = Contact.objects.get(email="carla@example.com")
    assert (carla.owner, carla.next_step, carla.next_step_due) == (None, "", None)


def test_deals_file_sets_next_steps_and_a_closed_deal_keeps_none(crm):
    out, _err = crm_import("deals", DATA / "deals_next_steps.csv")
    assert "1 created, 2 updated, 0 unchanged" in out
    renewal = Deal.objects.get(title="Acme renewal")
    assert (renewal.next_step, renewal.next_step_due) == (
        "Send the revised quote",
        date(2026, 1, 5),
    )
    pilot = Deal.objects.get(title="Globex pilot")
    assert pilot.stage.name == "Closed-Won" and pilot.closed_at is not None
    assert (pilot.next_step, pilot.next_step_due, pilot.probability) == ("", None, 100)
    lead = Deal.objects.get(title="New lead")
    assert (lead.next_step, lead.next_step_due) == ("Call back", None)

    # The rule overrules the file's step and probability on the closed deal: no change.
    out, _err = crm_import("deals", DATA / "deals_next_steps.csv")
    assert "0 created, 0 updated, 3 unchanged" in out


def test_a_row_closing_a_deal_clears_its_next_step_and_the_preview_says_so(crm):
    deal = Deal.objects.get(title="Acme renewal")
    Deal.objects.filter(pk=deal.pk).update(next_step="Call", next_step_due=date(2026, 1, 5))
    header = "id,title,contact_email,stage,next_step,next_step_due\n"
    dataset = read_csv(
        (
            header + f"{deal.pk},Acme renewal,ann.lee@example.com,Closed-Won,Call,2026-01-05\n"
        ).encode()
    )
    result = DealResource().import_data(dataset, dry_run=True)
    assert not result.error_lines()
    (row,) = result.preview_rows
    assert row.import_type == "update"
    assert {"stage", "next_step", "next_step_due"} <= set(row.changed)
    cells = dict(zip(result.diff_headers, row.cells, strict=True))
    cleared = ("(cleared: a closed deal has no next step)", True)
    assert (cells["next_step"], cells["next_step_due"]) == (cleared, cleared)

    DealResource().import_data(dataset)
    deal.refresh_from_db()
    assert (deal.next_step, deal.next_step_due) == ("", None)
    assert deal.closed_at is not None


def test_emptying_a_step_whose_date_the_file_leaves_is_a_row_error(crm, tmp_path):
    Contact.objects.filter(email="ann.lee@example.com").update(
        next_step="Call", next_step_due=date(2026, 1, 5)
    )
    before = snapshot()
    path = write(tmp_path, "c.csv", "email,first_name,next_step\nann.lee@example.com,Ann,\n")
    message, err = failing_import("contacts", path)
    assert err.strip() == (
        "row 2, column next_step: Say what the next step is, or leave its date empty. The "
        "record's next step is due on 2026-01-05: to clear it, add the next_step_due column "
        "and leave it empty."
    )
    assert "nothing was imported" in message
    assert snapshot() == before
    path = write(
        tmp_path, "c.csv", "email,first_name,next_step,next_step_due\nann.lee@example.com,Ann,,\n"
    )
    crm_import("contacts", path)
    assert Contact.objects.filter(email="ann.lee@example.com", next_step="").exists()


def test_a_contact_owner_email_shared_by_two_users_is_ambiguous(tmp_path):
    make_user(username="a", email="team@example.com")
    make_user(username="b", email="team@example.com")
    path = write(
        tmp_path, "c.csv", "email,first_name,owner\nkim@example.com,Kim,team@example.com\n"
    )
    _message, err = failing_import("contacts", path)
    assert "row 2, column owner: Several users have the email" in err


# --- re-importing --------------------------------------------------------------------------


def test_reimporting_the_same_files_changes_nothing(crm):
    before = snapshot()
    for model, name in (("companies", "companies"), ("contacts", "contacts"), ("deals", "deals")):
        out, _err = crm_import(model, DATA / f"{name}.csv")
        assert " 0 created, 0 updated," in out
    assert snapshot() == before


def test_reimport_updates_in_place_matching_email_ignoring_case(tmp_path):
    crm_import("contacts", DATA / "contacts.csv")
    path = write(
        tmp_path, "c.csv", CONTACT_HEADER + "Ann,Lee,ANN.LEE@example.com,,,inactive,,VIP,\n"
    )
    out, _err = crm_import("contacts", path)
    assert "0 created, 1 updated, 0 unchanged" in out
    ann = Contact.objects.get(email__iexact="ann.lee@example.com")
    assert Contact.objects.count() == 4
    assert (ann.email, ann.status, ann.phone, ann.company) == (
        "ANN.LEE@example.com",
        "inactive",
        "",
        None,
    )
    assert [t.name for t in ann.tags.all()] == ["VIP"]  # the file's tags replace the old ones


def test_columns_missing_from_the_file_are_left_as_they_are(tmp_path):
    crm_import("contacts", DATA / "contacts.csv")
    path = write(tmp_path, "c.csv", "email,first_name,status\nann.lee@example.com,Ann,contacted\n")
    crm_import("contacts", path)
    ann = Contact.objects.get(email="ann.lee@example.com")
    assert (ann.status, ann.phone, ann.company.name) == ("contacted", "+1 555 0100", "Acme")
    assert ann.tags.count() == 2


def test_deals_match_by_id_else_by_title_and_contact(crm, tmp_path):
    renewal = Deal.objects.get(title="Acme renewal")
    path = write(
        tmp_path,
        "d.csv",
        DEAL_HEADER
        + f"{renewal.pk},Acme renewal 2026,ann.lee@example.com,15000,Negotiation,40,,,\n"
        + ",GLOBEX PILOT,bob@example.com,900,Negotiation,60,,seller,\n",
    )
    out, _err = crm_import("deals", path)
    assert "0 created, 2 updated" in out
    renewal.refresh_from_db()
    assert (renewal.title, renewal.amount, renewal.stage.name) == (
        "Acme renewal 2026",
        Decimal("15000"),
        "Negotiation",
    )
    assert Deal.objects.get(title="GLOBEX PILOT").amount == Decimal("900")
    assert Deal.objects.count() == 3


def test_closed_at_follows_the_stage_as_a_save_would(crm, tmp_path):
    row = "{id},Acme renewal,ann.lee@example.com,12000.50,{stage},20,2025-06-30,seller,\n"
    deal = Deal.objects.get(title="Acme renewal")

    crm_import(
        "deals",
        write(tmp_path, "won.csv", DEAL_HEADER + row.format(id=deal.pk, stage="Closed-Won")),
    )
    deal.refresh_from_db()
    closed_at = deal.closed_at
    assert closed_at is not None

    crm_import(
        "deals",
        write(tmp_path, "again.csv", DEAL_HEADER + row.format(id=deal.pk, stage="closed-won")),
    )
    deal.refresh_from_db()
    assert deal.closed_at == closed_at  # staying in a closed stage keeps the day it closed

    crm_import(
        "deals",
        write(tmp_path, "open.csv", DEAL_HEADER + row.format(id=deal.pk, stage="Negotiation")),
    )
    deal.refresh_from_db()
    assert deal.closed_at is None


def test_import_reads_with_the_same_queries_for_10_and_200_rows(tmp_path, seller):
    make_tag(name="VIP")

    def queries(count: int) -> list[str]:
        rows = "".join(
            f'P,Q,p{count}-{i}@example.com,,,new,Co {count}-{i % 7},"VIP, New {count}-{i % 3}",\n'
            for i in range(count)
        )
        path = write(tmp_path, f"c{count}.csv", CONTACT_HEADER + rows)
        with CaptureQueriesContext(connection) as captured:
            crm_import("contacts", path)
        return [q["sql"] for q in captured.captured_queries]

    small, large = queries(10), queries(200)
    reads = [[sql for sql in run if sql.startswith("SELECT")] for run in (small, large)]
    assert len(reads[0]) == len(reads[1]), "a lookup query per row"
    # Writes are bulk: SQLite's 999-parameter limit splits 200 rows into a few INSERTs.
    assert len(large) <= len(small) + 6, f"{len(small)} queries for 10 rows, {len(large)} for 200"


# --- bad input ---------------------------------------------------------------------------

BAD_ROWS = [
    ("contacts", "contacts_invalid_email.csv", [(3, "email", "Enter a valid email address.")]),
    ("contacts", "contacts_unknown_status.csv", [(2, "status", "“Hot lead” is not a status")]),
    (
        "contacts",
        "contacts_too_long.csv",
        [
            (2, "first_name", "at most 100 characters (it has 101)"),
            (2, "company", "at most 200 characters (it has 201)"),
            (2, "tags", "at most 50 characters (it has 51)"),
        ],
    ),
    ("contacts", "contacts_missing_column.csv", [(1, "email", "no “email” column")]),
    ("contacts", "contacts_duplicates.csv", [(3, "email", "same record as row 2")]),
    (
        "contacts",
        "contacts_impossible_timestamp.csv",
        [
            (2, "last_contacted_at", "“2025-02-30T10:00:00” is not a real date"),
            (3, "last_contacted_at", "“yesterday” is not an ISO 8601 timestamp"),
        ],
    ),
    (
        "deals",
        "deals_bad.csv",
        [
            (2, "contact_email", "No contact has the email “nobody@example.com”"),
            (3, "stage", "“Won-ish” is not a pipeline stage; use one of: Prospecting"),
            (4, "owner", "No user has the username or email “ghost”"),
            (5, "probability", "less than or equal to 100"),
            (6, "amount", "The amount cannot be negative."),
            (7, "amount", "“ten euros” is not an amount"),
            (8, "amount", "“1,234.50” is not an amount: write digits with a decimal point"),
            (9, "expected_close_date", "it is an invalid date"),
            (10, "expected_close_date", "must be in YYYY-MM-DD format"),
            (11, "id", "No deal has the id 999999"),
        ],
    ),
    ("deals", "deals_duplicates.csv", [(3, "title", "same record as row 2")]),
    (
        "contacts",
        "contacts_next_steps_bad.csv",
        [
            (2, "owner", "No user has the username or email “ghost”"),
            (3, "next_step_due", "it is an invalid date"),
            (4, "next_step_due", "must be in YYYY-MM-DD format"),
            (5, "next_step_due", "Say what the next step is, or leave its date empty."),
            (6, "next_step", "at most 200 characters (it has 201)"),
        ],
    ),
    (
        "deals",
        "deals_next_steps_bad.csv",
        [
            (2, "next_step_due", "Say what the next step is, or leave its date empty."),
            (3, "next_step_due", "must be in YYYY-MM-DD format"),
            (4, "next_step", "at most 200 characters (it has 201)"),
        ],
    ),
]


@pytest.mark.parametrize(("model", "name", "expected"), BAD_ROWS, ids=[b[1] for b in BAD_ROWS])
def test_bad_rows_are_each_named_and_nothing_is_imported(crm, model, name, expected):
    before = snapshot()
    message, err = failing_import(model, DATA / name)
    lines = err.strip().splitlines()
    assert len(lines) == len(expected), err
    for line, (row, column, fragment) in zip(lines, expected, strict=True):
        assert line.startswith(f"row {row}, column {column}: "), line
        assert fragment.lower() in line.lower(), line
    assert "nothing was imported" in message
    assert "Traceback" not in err
    assert snapshot() == before


BAD_FILES = [
    ("empty.csv", "The file is empty."),
    ("blank_lines.csv", "The file is empty."),
    ("header_only.csv", "The file has a header row but no rows to import."),
    ("binary.csv", "This is not a text file"),
    ("contacts_undecodable.csv", "neither UTF-8 nor Windows-1252 (Latin-1)"),
    ("contacts_ragged.csv", "Row 2 has 11 values but the header has only 9 columns."),
]


@pytest.mark.parametrize(("name", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_unreadable_files_are_refused_with_the_reason(crm, name, expected):
    before = snapshot()
    message, _err = failing_import("contacts", DATA / name)
    assert expected in message
    assert snapshot() == before


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    path = write(tmp_path, "c.csv", "name,Name\nAcme,Acme\n")
    _message, err = failing_import("companies", path)
    assert "row 1, column name: The header names this column twice (columns 1 and 2)." in err


def test_an_xlsx_file_named_csv_is_recognised(tmp_path):
    import openpyxl

    openpyxl.Workbook().save(tmp_path / "really.csv")
    message, _err = failing_import("companies", tmp_path / "really.csv")
    assert "Excel (XLSX) workbook, not a text file" in message


def test_a_missing_file_is_reported_without_a_traceback():
    message, _err = failing_import("companies", DATA / "no-such-file.csv")
    assert "No such file or directory" in message


def test_dry_run_checks_every_row_and_writes_nothing():
    out, _err = crm_import("contacts", DATA / "contacts.csv", "--dry-run")
    assert "4 to be created" in out and "Would also create: 2 companies, 2 tags." in out
    assert "Dry run: nothing was written." in out
    assert not Contact.objects.exists() and not Company.objects.exists()


def test_a_database_refusal_while_writing_rolls_back_every_row(monkeypatch):
    def refuse(*args, **kwargs):
        raise IntegrityError("UNIQUE constraint failed: crm_admin_contact.email")

    before = snapshot()
    monkeypatch.setattr(type(Contact.objects), "bulk_create", refuse)
    _message, err = failing_import("contacts", DATA / "contacts.csv")
    assert "The database refused the import, nothing was saved" in err
    # The companies and tags created before the contacts were rolled back with them.
    assert snapshot() == before


def test_an_existing_contact_with_tags_keeps_them_when_the_row_is_unchanged(tmp_path):
    vip = make_tag(name="VIP")
    contact = make_contact(email="kim@example.com", first_name="Kim", last_name="", tags=[vip])
    path = write(tmp_path, "c.csv", "email,first_name,tags\nkim@example.com,Kim,vip\n")
    out, _err = crm_import("contacts", path)
    assert "1 unchanged" in out
    assert list(contact.tags.all()) == [vip]


def test_a_deal_title_shared_by_two_deals_of_a_contact_needs_the_id(tmp_path):
    contact = make_contact(email="kim@example.com")
    make_deal(contact=contact, title="Renewal")
    make_deal(contact=contact, title="Renewal")
    path = write(tmp_path, "d.csv", DEAL_HEADER + ",Renewal,kim@example.com,1,Prospecting,,,,\n")
    _message, err = failing_import("deals", path)
    assert "row 2, column title: 2 deals of this contact have this title" in err


def test_an_owner_email_shared_by_two_users_is_ambiguous(tmp_path):
    make_contact(email="kim@example.com")
    make_user(username="a", email="team@example.com")
    make_user(username="b", email="team@example.com")
    path = write(
        tmp_path,
        "d.csv",
        DEAL_HEADER + ",Pilot,kim@example.com,1,Prospecting,,,team@example.com,\n",
    )
    _message, err = failing_import("deals", path)
    assert "row 2, column owner: Several users have the email" in err


def test_reading_a_file_keeps_spreadsheet_row_numbers_across_blank_rows():
    dataset = read_csv(
        (CONTACT_HEADER + "Ann,Lee,ann@example.com,,,,,,\n,,,,,,,,\nBob,,bad,,,,,,\n").encode()
    )
    result = ContactResource().import_data(dataset, dry_run=True)
    assert [(line.row, line.column) for line in result.error_lines()] == [(4, "email")]
    assert result.totals["new"] == 1


def test_stage_names_match_ignoring_case():
    make_contact(email="kim@example.com")
    dataset = read_csv((DEAL_HEADER + ",Pilot,kim@example.com,,NEGOTIATION,,,,\n").encode())
    result = DealResource().import_data(dataset)
    assert not result.error_lines()
    assert Deal.objects.get().stage == stage("Negotiation")


@pytest.mark.parametrize("bad_id", ["²", "99999999999999999999", "-3"])
def test_a_deal_id_that_is_no_database_id_is_a_row_error(crm, tmp_path, bad_id):
    before = snapshot()
    path = write(
        tmp_path, "deals.csv", DEAL_HEADER + f"{bad_id},Pilot,ann@example.com,10,Prospecting,,,,\n"
    )
    message, err = failing_import("deals", path)
    assert f"row 2, column id: “{bad_id}” is not a deal id" in err
    assert "nothing was imported" in message
    assert snapshot() == before
