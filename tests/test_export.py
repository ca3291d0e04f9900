"""`crm_export` and the resources' export: exact headers, formula neutralising, streaming, and
export -> import round trips that change nothing, in every format."""

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from crm_admin.deal_history import LostReason
from crm_admin.models import Company, Contact, Deal
from crm_admin.resources import ContactResource, DealResource, neutralise, unneutralise
from tests.factories import (
    lost_reason,
    make_company,
    make_contact,
    make_deal,
    make_tag,
    make_user,
    stage,
)
from tests.test_import import crm_import, snapshot

pytestmark = pytest.mark.django_db

HEADERS = {
    "companies": "name,industry,website",
    "contacts": "first_name,last_name,email,phone,title,status,company,tags,last_contacted_at,"
    "owner,next_step,next_step_due",
    "deals": "id,title,contact_email,amount,stage,probability,expected_close_date,owner,tags,"
    "next_step,next_step_due,lost_reason",
}


def crm_export(model: str, *args) -> str:
    out = StringIO()
    call_command("crm_export", model, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.fixture
def tricky():
    """Records whose values test every rule: formulas, phone numbers, accents, apostrophes,
    empty values, timestamps with microseconds, tags."""
    seller = make_user(username="seller", email="seller@example.com")
    vip, minus = make_tag(name="VIP"), make_tag(name="-tag")
    acme = make_company(name="=1+1 Ltd", industry="@risk", website="https://acme.example.com")
    make_company(name="Plain", industry="", website="")
    ann = make_contact(
        first_name="Zoë",
        last_name="O'Brien",
        email="ann@example.com",
        phone="+1 555 0100",
        title="=SUM(A1:A3)",
        status=Contact.Status.PENDING_RESPONSE,
        company=acme,
        last_contacted_at=datetime(2025, 3, 31, 12, 30, 15, 123456, tzinfo=UTC),
        tags=[vip, minus],
        owner=seller,
        next_step="-call back",
        next_step_due=date(2026, 1, 5),
    )
    make_contact(
        first_name="Bob",
        last_name="",
        email="bob@example.com",
        phone="-12",
        title="'=already quoted",
        company=None,
    )
    make_contact(first_name="Tab", email="tab@example.com", title="\tindented", phone="(0)20")
    make_deal(
        title="+A1 renewal",
        contact=ann,
        amount=Decimal("1234.50"),
        stage=stage("Closed-Won"),
        probability=100,
        expected_close_date="2025-06-30",
        owner=seller,
        tags=[vip],
    )
    make_deal(
        title="Free pilot",
        contact=ann,
        amount=Decimal("0.00"),
        owner=None,
        next_step="Send the revised quote",
        next_step_due=date(2026, 1, 9),
    )
    make_deal(title="Undated step", contact=ann, next_step="=1+2")
    make_deal(title="No amount", contact=ann, amount=None, probability=0)
    reason = LostReason.objects.create(name="Zu groß für uns", order=9)
    make_deal(title="Lost one", contact=ann, stage=stage("Closed-Lost"), lost_reason=reason)


# --- headers and values ------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(HEADERS))
def test_csv_export_has_exactly_the_import_headers(model):
    text = crm_export(model)
    assert text.startswith("\ufeff"), "UTF-8 with a byte-order mark, as Excel writes it"
    assert text.removeprefix("\ufeff").split("\r\n")[0] == HEADERS[model]


def test_contacts_export_values(tricky):
    rows = {row[2]: row for row in csv_rows(crm_export("contacts"))[1:]}
    ann = rows["ann@example.com"]
    assert ann == [
        "Zoë",
        "O'Brien",
        "ann@example.com",
        "+1 555 0100",
        "'=SUM(A1:A3)",
        "pending_response",
        "'=1+1 Ltd",
        "'-tag, VIP",  # a tag list starting with "-" reads as a formula too
        "2025-03-31T12:30:15.123456+00:00",
        "seller",
        "'-call back",
        "2026-01-05",
    ]
    assert rows["bob@example.com"][3:5] == ["-12", "''=already quoted"]
    assert rows["bob@example.com"][9:] == ["", "", ""]


def test_deals_export_values_and_json_numbers(tricky):
    deals = {d["title"]: d for d in json.loads(crm_export("deals", "--format", "json"))}
    won = deals["'+A1 renewal"]
    assert won["id"] == Deal.objects.get(title="+A1 renewal").pk
    assert (won["amount"], won["probability"], won["stage"]) == (1234.5, 100, "Closed-Won")
    assert (won["owner"], won["tags"], won["expected_close_date"]) == (
        "seller",
        "VIP",
        "2025-06-30",
    )
    assert deals["No amount"]["amount"] is None
    assert (won["next_step"], won["next_step_due"]) == ("", None)
    pilot = deals["Free pilot"]
    assert (pilot["next_step"], pilot["next_step_due"]) == ("Send the revised quote", "2026-01-09")
    undated = deals["Undated step"]
    assert (undated["next_step"], undated["next_step_due"]) == ("'=1+2", None)
    assert (won["lost_reason"], deals["Lost one"]["lost_reason"]) == (None, "Zu groß für uns")
    assert '"amount": 1234.50' in crm_export("deals", "--format", "json")  # cents kept


# --- formulas ----------------------------------------------------------------------------

NEUTRALISED = [
    ("=SUM(A1)", "'=SUM(A1)"),
    ("@cmd", "'@cmd"),
    ("+A1", "'+A1"),
    ("-A1", "'-A1"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("\tTAB", "'\tTAB"),
    ("\rCR", "'\rCR"),
    ("'=A1", "''=A1"),
    ("-(1)-(2)", "'-(1)-(2)"),
    ("+(1)-(2)", "'+(1)-(2)"),
    ("+1*2", "'+1*2"),
    ("+1/2", "'+1/2"),
    ("+1 - 2", "'+1 - 2"),
    ("+1--2", "'+1--2"),
    ("-1 555 0100", "'-1 555 0100"),
    ("+44 (20)(30) 1", "'+44 (20)(30) 1"),
    ("-1e5", "'-1e5"),
    ("+1 555 0100", "+1 555 0100"),
    ("+44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
    ("+44 (20) 7946-0958", "+44 (20) 7946-0958"),
    ("+1 (555) 555-0100", "+1 (555) 555-0100"),
    ("+1-555-0100", "+1-555-0100"),
    ("+1.555.0100", "+1.555.0100"),
    ("+12", "+12"),
    ("-1", "-1"),
    ("-12.5", "-12.5"),
    ("'-5", "'-5"),
    ("O'Brien", "O'Brien"),
    ("a=b", "a=b"),
    ("", ""),
]


@pytest.mark.parametrize(("value", "exported"), NEUTRALISED)
def test_formulas_are_neutralised_and_numbers_are_not(value, exported):
    assert neutralise(value) == exported
    assert unneutralise(exported) == value


@given(st.text(alphabet="'=+-@()0123456789 .*/\tA", max_size=12))
def test_unneutralise_is_the_exact_inverse_of_neutralise(text):
    assert unneutralise(neutralise(text)) == text
    assert neutralise(text) == text or neutralise(text) == f"'{text}"


@pytest.mark.parametrize("file_format", ["csv", "json", "xlsx"])
def test_arithmetic_after_a_sign_is_neutralised_in_every_export_format(tmp_path, file_format):
    make_contact(email="sum@example.com", title="-(1)-(2)", phone="+44 (20) 7946-0958")
    path = tmp_path / f"contacts.{file_format}"
    call_command(
        "crm_export",
        "contacts",
        "--format",
        file_format,
        "--output",
        str(path),
        stderr=StringIO(),
    )
    if file_format == "csv":
        header, row = csv_rows(path.read_text(encoding="utf-8"))
        exported = dict(zip(header, row, strict=True))
    elif file_format == "json":
        exported = json.loads(path.read_text(encoding="utf-8"))[0]
    else:
        header, row = openpyxl.load_workbook(path).active.values
        exported = dict(zip(header, row, strict=True))
    assert (exported["title"], exported["phone"]) == ("'-(1)-(2)", "+44 (20) 7946-0958")


def test_xlsx_export_writes_formulas_as_text_and_numbers_as_numbers(tricky, tmp_path):
    path = tmp_path / "deals.xlsx"
    call_command(
        "crm_export", "deals", "--format", "xlsx", "--output", str(path), stderr=StringIO()
    )
    sheet = openpyxl.load_workbook(path).active
    rows = list(sheet.iter_rows(min_row=1))
    assert [cell.value for cell in rows[0]] == HEADERS["deals"].split(",")
    won = next(row for row in rows if row[1].value == "'+A1 renewal")
    assert won[1].data_type == "s"
    assert (won[3].value, won[5].value) == (1234.5, 100)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json"])
@pytest.mark.parametrize("model", ["companies", "contacts", "deals"])
def test_export_then_import_changes_nothing(tricky, tmp_path, model, file_format):
    path = tmp_path / f"{model}.{file_format}"
    call_command(
        "crm_export", model, "--format", file_format, "--output", str(path), stderr=StringIO()
    )
    before = snapshot()
    out, _err = crm_import(model, path)
    count = {"companies": Company, "contacts": Contact, "deals": Deal}[model].objects.count()
    assert f"0 created, 0 updated, {count} unchanged, 0 errors." in out
    assert snapshot() == before


def test_an_export_imports_into_an_empty_database_as_the_same_records(tricky, tmp_path):
    paths = {}
    for model in ("companies", "contacts"):
        paths[model] = tmp_path / f"{model}.csv"
        call_command("crm_export", model, "--output", str(paths[model]), stderr=StringIO())
    exported = csv_rows(paths["contacts"].read_text(encoding="utf-8"))
    Deal.objects.all().delete()
    Contact.objects.all().delete()
    Company.objects.all().delete()
    crm_import("companies", paths["companies"])
    crm_import("contacts", paths["contacts"])
    assert csv_rows(crm_export("contacts")) == exported
    assert Contact.objects.get(email="tab@example.com").title == "\tindented"


# --- streaming ---------------------------------------------------------------------------


def test_export_streams_in_chunks_with_one_query_plus_one_per_2000_records():
    company = make_company()
    tag = make_tag()
    contacts = Contact.objects.bulk_create(
        Contact(first_name="P", email=f"p{i}@example.com", company=company) for i in range(2500)
    )
    Contact.tags.through.objects.bulk_create(
        Contact.tags.through(contact_id=c.pk, tag_id=tag.pk) for c in contacts
    )
    with CaptureQueriesContext(connection) as captured:
        chunks = list(ContactResource().export_stream(file_format="csv"))
    assert len(chunks) > 2, "written as it goes, not as one string"
    assert len(captured) == 3  # the rows, streamed; the tags of each of the two chunks
    text = b"".join(chunks).decode()
    assert text.count("\r\n") == 2501


def test_deal_export_with_lost_reasons_runs_one_query_plus_one_per_2000_deals():
    contact = make_contact()
    reasons = [lost_reason(name) for name in ("Price", "Timing")]

    def export_queries(count: int) -> tuple[int, list[str]]:
        Deal.objects.bulk_create(
            Deal(
                title=f"D{count}-{i}",
                contact=contact,
                stage=stage("Closed-Lost"),
                lost_reason=reasons[i % 2] if i % 3 else None,
            )
            for i in range(count)
        )
        with CaptureQueriesContext(connection) as captured:
            rows = list(DealResource().export_values())
        return len(captured), [row[-1] for row in rows]

    small, _reasons = export_queries(10)
    large, reasons = export_queries(2500)
    # The rows, streamed with their reasons joined, and the tags of each 2,000.
    assert (small, large) == (2, 3)
    assert len(reasons) == 2510
    assert {reason: reasons.count(reason) for reason in set(reasons)} == {
        None: 838,
        "Price": 836,
        "Timing": 836,
    }


def test_export_to_a_file_or_stdout_and_xlsx_never_to_a_text_stream(tmp_path):
    make_company(name="Acme")
    assert "Acme" in crm_export("companies")
    with pytest.raises(CommandError, match="XLSX is a binary format"):
        crm_export("companies", "--format", "xlsx")
    path = tmp_path / "out.json"
    call_command("crm_export", "companies", "--format", "json", "-o", str(path), stderr=StringIO())
    assert json.loads(path.read_text())[0]["name"] == "Acme"
