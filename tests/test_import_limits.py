"""Hostile and broken import files: a small file never costs more than its content, every
limit and damage is a clean message naming the row, column, encoding or limit, never a 500 or
a traceback (issue 10, items 1, 3, 10, 11, 12, 13)."""

import io
import json
import tracemalloc
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from django.test import override_settings
from django.urls import reverse

from crm_admin.models import Company, Contact, Deal
from crm_admin.resources import ContactResource, ImportFileError, read_csv
from crm_admin.resources.files import _xlsx_rows, read_json, read_xlsx
from tests.factories import make_contact
from tests.test_import import CONTACT_HEADER, crm_import, failing_import, snapshot
from tests.test_import_admin import many_contacts, upload

pytestmark = pytest.mark.django_db

# --- crafted XLSX files ---------------------------------------------------------------------

_PACKAGE = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
        'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
        'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
        'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
        '2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}
HEADER_AND_ROW_2 = [(1, [("A", "name"), ("B", "industry")]), (2, [("A", "Acme"), ("B", "Retail")])]


def workbook(rows: list[tuple[int, list[tuple[str, str]]]], dimension: str = "") -> bytes:
    """A minimal XLSX written by hand, as an attacker would: `rows` are (row number, [(column
    letter, text)]), `dimension` the sheet's declared size (any, true or not)."""
    cells = "".join(
        f'<row r="{number}">'
        + "".join(
            f'<c r="{col}{number}" t="inlineStr"><is><t>{text}</t></is></c>' for col, text in row
        )
        + "</row>"
        for number, row in rows
    )
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.'
        f'org/spreadsheetml/2006/main">{declared}<sheetData>{cells}</sheetData></worksheet>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _PACKAGE.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return out.getvalue()


def peak_memory(read, data: bytes):
    """(what `read(data)` returned or raised, the peak of memory it allocated in bytes)."""
    tracemalloc.start()
    try:
        outcome = read(data)
    except ImportFileError as error:
        outcome = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


BOMBS = [
    ("a row numbered 1,048,576", [*HEADER_AND_ROW_2, (1048576, [("A", "Zed")])], "", "1,048,576"),
    ("a row numbered 3,000,000", [*HEADER_AND_ROW_2, (3000000, [("A", "Zed")])], "", "3,000,000"),
    (
        "a declared dimension of A1:XFD10000",
        [*HEADER_AND_ROW_2, (1048576, [("A", "Zed")])],
        "A1:XFD10000",
        "1,048,576",
    ),
]


@pytest.mark.parametrize(
    ("rows", "dimension", "row"), [b[1:] for b in BOMBS], ids=[b[0] for b in BOMBS]
)
def test_a_tiny_xlsx_with_a_far_row_is_refused_at_the_cost_of_its_content(rows, dimension, row):
    data = workbook(rows, dimension)
    assert len(data) < 2000
    refused, peak = peak_memory(read_xlsx, data)
    assert isinstance(refused, ImportFileError)
    assert str(refused) == (
        f"Row {row} holds a value, but a file may have at most 1,000,000 rows after the header "
        "(CRM_IMPORT_MAX_ROWS): split the file."
    )
    assert peak < 20_000_000


def test_the_xlsx_reader_produces_only_the_rows_the_sheet_holds():
    data = workbook([*HEADER_AND_ROW_2, (3_000_000, [("A", "Zed")])], dimension="A1:XFD3000000")
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = list(_xlsx_rows(book.worksheets[0]))
    finally:
        book.close()
    assert rows == [(1, ["name", "industry"]), (2, ["Acme", "Retail"]), (3_000_000, ["Zed"])]


def test_a_declared_dimension_and_a_gap_cost_only_the_real_rows():
    data = workbook([*HEADER_AND_ROW_2, (10000, [("A", "Zed")])], dimension="A1:XFD10000")
    sheet, peak = peak_memory(read_xlsx, data)
    assert sheet.headers == ["name", "industry"]
    assert list(sheet) == [("Acme", "Retail"), ("Zed", "")]
    assert sheet.numbers == [2, 10_000]
    assert peak < 20_000_000


def test_a_cell_in_the_last_excel_column_is_refused_before_the_row_is_made():
    data = workbook([*HEADER_AND_ROW_2, (3, [("XFD", "x")])])
    refused, peak = peak_memory(read_xlsx, data)
    assert str(refused) == (
        "Row 3 has 16,384 columns, but a file may have at most 50 (CRM_IMPORT_MAX_COLUMNS)."
    )
    assert peak < 20_000_000


def test_a_row_after_a_gap_keeps_its_spreadsheet_number_in_errors(tmp_path):
    path = tmp_path / "c.xlsx"
    path.write_bytes(
        workbook([(1, [("A", "name"), ("B", "website")]), (5000, [("A", "X"), ("B", "a b")])])
    )
    _message, err = failing_import("companies", path)
    assert err.startswith("row 5000, column website: ")


def test_the_limits_hold_in_the_command_and_the_admin_and_for_every_format(tmp_path, staff_client):
    before = snapshot()
    path = tmp_path / "far.xlsx"
    path.write_bytes(workbook([*HEADER_AND_ROW_2, (3000000, [("A", "Zed")])]))
    message, _err = failing_import("companies", path)
    assert "Row 3,000,000 holds a value, but a file may have at most 1,000,000 rows" in message
    html = upload(
        staff_client,
        "far.xlsx",
        path.read_bytes(),
        url=reverse("admin:crm_admin_company_import"),
        file_format="xlsx",
    ).content.decode()
    assert "Row 3,000,000 holds a value" in html and "CRM_IMPORT_MAX_ROWS" in html
    with override_settings(CRM_IMPORT_MAX_ROWS=2, CRM_IMPORT_MAX_COLUMNS=3):
        with pytest.raises(
            ImportFileError, match="Row 4 holds a value, but a file may have at most 2 rows"
        ):
            read_csv(b"name\nA\nB\nC\n")
        assert list(read_csv(b"name\nA\nB\n" + b",\n" * 10)) == [("A",), ("B",)]  # blank rows
        with pytest.raises(
            ImportFileError, match="Row 1 has 4 columns, but a file may have at most 3"
        ):
            read_csv(b"a,b,c,d\n1,2,3,4\n")
        with pytest.raises(ImportFileError, match="has 4 columns, but a file may have at most 3"):
            read_json(json.dumps([{"a": 1, "b": 2, "c": 3, "d": 4}]).encode())
        with pytest.raises(ImportFileError, match="Row 4 holds a value"):
            read_json(json.dumps([{"a": 1}] * 3).encode())
    assert snapshot() == before


# --- errors: the first 100, and the count of all ---------------------------------------------


def test_a_file_of_bad_rows_keeps_only_the_first_100_errors_and_counts_them_all():
    dataset = read_csv(many_contacts(5000, bad_every=1))
    result = ContactResource().import_data(dataset, dry_run=True)
    assert result.errors == 5000
    assert len(result.invalid_rows) == 100  # memory for 100 errors, not 5,000
    assert [line.row for line in result.error_lines()] == list(range(2, 102))
    assert result.errors_hidden == 4900


def test_rows_counted_but_not_kept_still_stop_the_import():
    # Keeping no error line must not turn a file with bad rows into a written import.
    data = many_contacts(20, bad_every=10)
    result = ContactResource().import_data(read_csv(data), dry_run=False, error_lines=0)
    assert result.has_validation_errors() and result.error_total == 2
    assert result.invalid_rows == [] and result.errors_hidden == 2
    assert not Contact.objects.exists()


def test_the_command_prints_the_first_100_errors_unless_asked_for_all(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(many_contacts(300, bad_every=2))
    message, err = failing_import("contacts", path)
    lines = err.strip().splitlines()
    assert len(lines) == 101
    assert lines[-1] == "… and 50 more (--all-errors lists them all)."
    assert message == "150 errors: nothing was imported."
    message, err = failing_import("contacts", path, "--all-errors")
    assert len(err.strip().splitlines()) == 150
    assert message == "150 errors: nothing was imported."


# --- timestamps that cannot be stored, JSON nested too deeply --------------------------------


OUT_OF_RANGE = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:30:00+05:00"]


def test_a_timestamp_out_of_range_in_utc_is_a_row_error_in_the_command(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        CONTACT_HEADER
        + "".join(f"A,B,a{i}@example.com,,,,,,{t}\n" for i, t in enumerate(OUT_OF_RANGE))
    )
    _message, err = failing_import("contacts", path)
    assert err.splitlines() == [
        f"row {row}, column last_contacted_at: “{text}” is outside the dates that can be stored "
        "(the years 1 to 9999 in UTC)."
        for row, text in enumerate(OUT_OF_RANGE, 2)
    ]
    assert "Traceback" not in err and not Contact.objects.exists()


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE)
def test_a_timestamp_out_of_range_is_shown_in_the_preview_never_confirmed(staff_client, timestamp):
    content = (CONTACT_HEADER + f"A,B,a@example.com,,,,,,{timestamp}\n").encode()
    html = upload(staff_client, "c.csv", content).content.decode()
    assert "is outside the dates that can be stored" in html
    assert 'id="import-confirm"' not in html


def test_deeply_nested_json_is_a_clean_refusal(tmp_path, staff_client):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    message, _err = failing_import("companies", path)
    assert message.endswith(
        "This JSON is nested too deeply: an import is a list of objects, one per row."
    )
    html = upload(
        staff_client,
        "deep.json",
        path.read_bytes(),
        url=reverse("admin:crm_admin_company_import"),
        file_format="json",
    ).content.decode()
    assert "This JSON is nested too deeply" in html


def test_a_json_cell_holding_an_object_or_nested_lists_is_refused():
    for value in ({"a": 1}, [[1]]):
        with pytest.raises(ImportFileError, match="Row 3, column tags: a value must be text"):
            read_json(
                json.dumps([{"name": "A", "tags": "x"}, {"name": "B", "tags": value}]).encode()
            )


# --- control characters and damaged encodings ------------------------------------------------


def test_a_control_character_past_the_first_64_kb_is_refused_naming_row_and_column(tmp_path):
    rows = "".join(f"Company {i},Retail,\n" for i in range(5000))
    path = tmp_path / "c.csv"
    path.write_bytes(("name,industry,website\n" + rows + "Bad\x00co,Retail,\n").encode())
    assert path.stat().st_size > 65536
    message, _err = failing_import("companies", path)
    assert message.endswith(
        "Row 5002, column name contains a control character (U+0000), which no text field can "
        "hold: remove it and import the file again."
    )
    assert not Company.objects.exists()


def test_a_control_character_in_a_json_value_is_refused():
    with pytest.raises(
        ImportFileError, match=r"Row 2, column industry contains a control character \(U\+001B\)"
    ):
        read_json(json.dumps([{"name": "A", "industry": "x\x1by"}]).encode())


def test_damaged_utf16_and_utf8_are_refused_naming_the_encoding_and_the_byte():
    good = "name\nAcme\n".encode("utf-16")
    with pytest.raises(ImportFileError, match="starts as UTF-16 but byte 13 is not valid UTF-16"):
        read_csv(good[:12] + b"\x00\xdc" + good[12:])  # a lone low surrogate
    with pytest.raises(ImportFileError, match="starts as UTF-8 but byte 10 is not valid UTF-8"):
        read_csv(b"\xef\xbb\xbfname\nA\xc3(\n")
    with pytest.raises(
        ImportFileError,
        match=r"neither UTF-8 nor Windows-1252 \(Latin-1\) text \(byte 9 is not valid UTF-8",
    ):
        read_csv(b"name\nA\xc3\x81\x81\n")


# --- XLSX numbers ------------------------------------------------------------------------------


def test_xlsx_numbers_read_as_excel_shows_them_money_rounded_to_cents_and_percentages(tmp_path):
    make_contact(email="kim@example.com")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["title", "contact_email", "stage", "amount", "probability"])
    sheet.append(["Three times 1.1", "kim@example.com", "Prospecting", 3 * 1.1, 0.5])
    sheet.append(["Half a cent", "kim@example.com", "Prospecting", 1234.565, 0.29])
    sheet.append(["Whole", "kim@example.com", "Prospecting", 12, 80])
    for row in (2, 3):
        sheet.cell(row, 5).number_format = "0%"
    path = tmp_path / "deals.xlsx"
    book.save(path)
    out, _err = crm_import("deals", path)
    assert "3 created" in out
    deals = {d.title: (d.amount, d.probability) for d in Deal.objects.all()}
    assert deals == {
        "Three times 1.1": (Decimal("3.30"), 50),
        "Half a cent": (Decimal("1234.57"), 29),  # 0.29 * 100 is 28.999999999999996
        "Whole": (Decimal("12.00"), 80),
    }


def test_an_amount_typed_as_text_with_three_decimals_is_still_refused(tmp_path):
    make_contact(email="kim@example.com")
    book = openpyxl.Workbook()
    book.active.append(["title", "contact_email", "stage", "amount"])
    book.active.append(["Typed", "kim@example.com", "Prospecting", "1234.567"])
    path = tmp_path / "deals.xlsx"
    book.save(path)
    _message, err = failing_import("deals", path)
    assert err.startswith("row 2, column amount: ")
    assert "decimal places" in err
