"""Spreadsheet files in and out: decoding, CSV/XLSX/JSON reading, formula neutralising, and
streaming writers for exports."""

import codecs
import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from itertools import chain

import tablib
from django.contrib.admin.utils import get_fields_from_path
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.formats import base_formats

from crm_admin.conf import crm_settings

BATCH_SIZE = 2000
PREVIEW_ROWS = 100
UNSET = object()  # a cleaned cell meaning "leave the record's value as it is"


# --- reading files ------------------------------------------------------------------------


class ImportFileError(ValueError):
    """The file cannot be read as a table; the message says why, in the user's words."""


def _save_as_utf8() -> str:
    return _("Save it as “CSV UTF-8” in your spreadsheet and import it again.")


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def max_rows() -> int:
    return crm_settings.CRM_IMPORT_MAX_ROWS


def max_columns() -> int:
    return crm_settings.CRM_IMPORT_MAX_COLUMNS


def _not_utf(encoding: str, error: UnicodeDecodeError, skipped: int = 0) -> ImportFileError:
    return ImportFileError(
        _("The file starts as %(encoding)s but byte %(byte)d is not valid %(encoding)s. %(advice)s")
        % {"encoding": encoding, "byte": error.start + skipped + 1, "advice": _save_as_utf8()}
    )


def decode_text(data: bytes) -> str:
    """`data` as text: UTF-8 with or without a byte-order mark, UTF-16 with one, else
    Windows-1252 (a superset of Latin-1, what spreadsheets on Windows write). A damaged
    UTF-8 or UTF-16 file is refused, naming the first bad byte (counted from 1)."""
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            _("This is an Excel (XLSX) workbook, not a text file: import it as XLSX.")
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")  # the codec reports positions in `data`, BOM included
        except UnicodeDecodeError as error:
            raise _not_utf("UTF-16", error) from None
    elif b"\x00" in data[:65536]:
        raise ImportFileError(_("This is not a text file (it contains binary data)."))
    elif data.startswith(codecs.BOM_UTF8):
        try:
            text = data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError as error:
            raise _not_utf("UTF-8", error, len(codecs.BOM_UTF8)) from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as utf8_error:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise ImportFileError(
                    _(
                        "The file is neither UTF-8 nor Windows-1252 (Latin-1) text (byte "
                        "%(byte)d is not valid UTF-8). %(advice)s"
                    )
                    % {"byte": utf8_error.start + 1, "advice": _save_as_utf8()}
                ) from None
    if _CONTROL_CHARACTERS.search(text, 0, 65536):
        raise ImportFileError(_("This is not a text file (it contains binary data)."))
    return text


def _delimiter(text: str) -> str:
    """The delimiter the header line uses most: comma, semicolon (spreadsheets in locales with
    a decimal comma) or tab."""
    header = text.split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class Sheet(tablib.Dataset):
    """A Dataset of a file's rows that hold a value, with `numbers`, the row number of each as
    the spreadsheet shows it. Blank rows are not kept: a file's cost is its content, not the
    number of its last row."""

    numbers: list[int]


def row_numbers(dataset: tablib.Dataset) -> Iterable[int]:
    """The spreadsheet row number of each row of `dataset` (the header is row 1)."""
    return getattr(dataset, "numbers", None) or range(2, len(dataset) + 2)


def _too_many_rows(number: int) -> ImportFileError:
    return ImportFileError(
        _(
            "Row %(row)s holds a value, but a file may have at most %(limit)s rows after the "
            "header (CRM_IMPORT_MAX_ROWS): split the file."
        )
        % {"row": f"{number:,}", "limit": f"{max_rows():,}"}
    )


def _too_many_columns(columns: int, row: int = 1) -> ImportFileError:
    return ImportFileError(
        _(
            "Row %(row)s has %(columns)s columns, but a file may have at most %(limit)d "
            "(CRM_IMPORT_MAX_COLUMNS)."
        )
        % {"row": f"{row:,}", "columns": f"{columns:,}", "limit": max_columns()}
    )


def _control_character(number: int, column: str, text: str) -> ImportFileError:
    character = _CONTROL_CHARACTERS.search(text).group()
    return ImportFileError(
        _(
            "Row %(row)d, column %(column)s contains a control character (U+%(code)04X), which "
            "no text field can hold: remove it and import the file again."
        )
        % {"row": number, "column": column, "code": ord(character)}
    )


def _sheet(rows: Iterable[tuple[int, list]], *, control_characters: bool = True) -> Sheet:
    """A Sheet of `rows`, (row number, cells) with the header first: short rows padded, empty
    trailing cells dropped, blank rows skipped. Refused: a row longer than the header, a row
    numbered past CRM_IMPORT_MAX_ROWS + 1, a header wider than CRM_IMPORT_MAX_COLUMNS, and
    (when `control_characters` says the file may hold some) a control character in a cell."""
    rows = iter(rows)
    _number, header = next(rows, (1, []))
    header = list(header)
    while header and header[-1] in (None, ""):
        header.pop()
    if not header:
        raise ImportFileError(_("The file is empty."))
    width = len(header)
    if width > max_columns():
        raise _too_many_columns(width)
    headers = [str(h if h is not None else "") for h in header]
    limit = max_rows() + 1
    data, numbers = [], []
    for number, row in rows:
        row = list(row)
        while row and row[-1] in (None, ""):
            row.pop()
        if not row:
            continue
        if number > limit:
            raise _too_many_rows(number)
        if len(row) > width:
            raise ImportFileError(
                _("Row %(row)d has %(cells)d values but the header has only %(columns)d columns.")
                % {"row": number, "cells": len(row), "columns": width}
            )
        if control_characters:
            for column, value in zip(headers, row, strict=False):
                if isinstance(value, str) and _CONTROL_CHARACTERS.search(value):
                    raise _control_character(number, column, value)
        data.append(row + [""] * (width - len(row)))
        numbers.append(number)
    if not data:
        raise ImportFileError(_("The file has a header row but no rows to import."))
    sheet = Sheet(*data, headers=headers)
    sheet.numbers = numbers
    return sheet


def read_csv(data: bytes) -> Sheet:
    text = decode_text(data)
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        return _sheet(
            enumerate(reader, 1), control_characters=bool(_CONTROL_CHARACTERS.search(text))
        )
    except csv.Error as error:
        raise ImportFileError(
            _("Row %(row)d cannot be read: %(error)s.") % {"row": reader.line_num, "error": error}
        ) from None


class NumberCell(str):
    """The text of a numeric XLSX cell, as Excel shows it: at most 15 significant digits
    (Excel's precision; =3*1.1 is stored as 3.3000000000000003 and shown as 3.3). A column
    may treat it differently from text typed into a cell (money is rounded to cents)."""


def _number_text(value: int | float, number_format: str) -> str:
    """A numeric cell's value as its text; a percentage (Excel stores 50% as 0.5) as "50%"."""
    percent = "%" in number_format
    if isinstance(value, float):
        digits = Decimal(format(value * 100 if percent else value, ".15g"))
        text = format(digits, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = str(value * 100 if percent else value)
    return f"{text}%" if percent else NumberCell(text)


def _xlsx_rows(sheet) -> Iterator[tuple[int, list]]:
    """The rows the worksheet's XML holds, as (row number, values), never the rows or the
    columns it skips. openpyxl 3.1's read-only iter_rows() yields an empty row for every
    missing row number and pads each row to the declared dimension, so that one
    `<row r="1048576">` costs a million rows (tests/test_import_limits.py). This reads the XML
    with the parser iter_rows() uses (openpyxl.worksheet._reader, private in openpyxl 3.1)
    and refuses a cell past CRM_IMPORT_MAX_COLUMNS before making the row."""
    from openpyxl.cell.read_only import ReadOnlyCell
    from openpyxl.worksheet._reader import WorkSheetParser

    book = sheet.parent
    with sheet._get_source() as source:
        parser = WorkSheetParser(
            source,
            sheet._shared_strings,
            data_only=True,
            epoch=book.epoch,
            date_formats=book._date_formats,
            timedelta_formats=book._timedelta_formats,
        )
        for number, cells in parser.parse():
            width = max((cell["column"] for cell in cells if cell["value"] is not None), default=0)
            if width > max_columns():
                raise _too_many_columns(width, number)
            values = [None] * width
            for cell in cells:
                value = cell["value"]
                if cell["column"] <= width and value is not None:
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        value = _number_text(value, ReadOnlyCell(sheet, **cell).number_format)
                    values[cell["column"] - 1] = value
            yield number, values


def read_xlsx(data: bytes) -> Sheet:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
    except Exception:
        # openpyxl raises zipfile, XML, key and value errors alike for a file it cannot read.
        raise ImportFileError(_("This is not an Excel (XLSX) workbook.")) from None
    try:
        return _sheet(_xlsx_rows(sheet))
    except ImportFileError:
        raise
    except Exception:
        raise ImportFileError(_("This is not an Excel (XLSX) workbook.")) from None
    finally:
        book.close()


def _json_cell(number: int, key: str, value):
    """A JSON value as a cell: text, a number, true/false, null or a list of those (tags)."""
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(item, dict | list) for item in value)
    ):
        raise ImportFileError(
            _(
                "Row %(row)d, column %(column)s: a value must be text, a number or a list of "
                "them, not an object or nested lists."
            )
            % {"row": number, "column": key}
        )
    return value


def read_json(data: bytes) -> Sheet:
    try:
        items = json.loads(decode_text(data), parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ImportFileError(
            _("This is not valid JSON: %(error)s at line %(line)d, column %(column)d.")
            % {"error": error.msg, "line": error.lineno, "column": error.colno}
        ) from None
    except RecursionError:
        raise ImportFileError(
            _("This JSON is nested too deeply: an import is a list of objects, one per row.")
        ) from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ImportFileError(_("A JSON import must be a list of objects, one per row."))
    headers = list(dict.fromkeys(key for item in items for key in item))
    if len(headers) > max_columns():
        raise _too_many_columns(len(headers))
    rows = (
        (number, [_json_cell(number, h, item.get(h)) for h in headers])
        for number, item in enumerate(items, 2)
    )
    return _sheet(chain([(1, headers)], rows))


class CSV(base_formats.CSV):
    """CSV as spreadsheets write it: any of the encodings `decode_text` reads, comma-,
    semicolon- or tab-separated. Read as bytes so that the encoding is worked out here."""

    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        return read_csv(in_stream if isinstance(in_stream, bytes) else in_stream.encode())


class XLSX(base_formats.XLSX):
    def create_dataset(self, in_stream):
        return read_xlsx(in_stream)


class JSON(base_formats.JSON):
    def is_binary(self):
        return True

    def get_read_mode(self):
        return "rb"

    def create_dataset(self, in_stream, **kwargs):
        return read_json(in_stream if isinstance(in_stream, bytes) else in_stream.encode())


FORMATS = {"csv": CSV, "xlsx": XLSX, "json": JSON}


# --- cell values ------------------------------------------------------------------------------

_FORMULA_START = frozenset("=@+-\t\r")
# What may start with + or - and still is no formula: a plain number (-1, +12.5), or a phone
# number, + then digit groups each after at most one space, dot or dash, with at most one
# group in parentheses (+1 555 0100, +44 (0)20 7946-0958, +1.555.0100). Anything else,
# -(1)-(2), +1*2, -1 555 0100, 2 separators in a row, is text a spreadsheet would compute.
_PLAIN_NUMBER = re.compile(r"[+-]\d+(\.\d+)?")
_PHONE_NUMBER = re.compile(r"\+\d+(?:[ .-]\d+)*(?: ?\(\d+\) ?\d+(?:[ .-]\d+)*)?")


def _looks_like_formula(text: str) -> bool:
    body = text.lstrip("'")
    if not body or body[0] not in _FORMULA_START:
        return False
    if body[0] in "+-":
        return not (_PLAIN_NUMBER.fullmatch(body) or _PHONE_NUMBER.fullmatch(body))
    return True


def neutralise(text: str) -> str:
    """`text` made safe to open in a spreadsheet: a leading apostrophe when a spreadsheet would
    compute it (it starts with =, @, a tab or a carriage return, or with + or - and is neither
    a plain number nor a phone number, see _PHONE_NUMBER). Text that already starts with
    apostrophes before a formula gets one more, so that `unneutralise` gives back exactly the
    original."""
    return f"'{text}" if _looks_like_formula(text) else text


def unneutralise(text: str) -> str:
    """The inverse of `neutralise`: an exported file re-imports unchanged."""
    return text[1:] if text.startswith("'") and _looks_like_formula(text) else text


def cell_text(value) -> str:
    """A cell as text, whatever type the file format gave it (XLSX numbers and dates, JSON
    numbers, lists and nulls)."""
    if value is None:
        return ""
    if isinstance(value, NumberCell):
        return value
    if isinstance(value, str):
        return unneutralise(value.strip())
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(cell_text(item) for item in value)
    return str(value)


_NEUTRALISE_FIRST = _FORMULA_START | {"'"}


def text_out(value: str | None) -> str | None:
    # Most values start with a letter or digit: skip the formula check for them.
    return neutralise(value) if value and value[0] in _NEUTRALISE_FIRST else value


def exporter(model, path: str) -> Callable:
    """How the files carry the values of `path`: timestamps in the site's time zone and dates
    as ISO 8601 text, text neutralised, numbers as they are."""
    field = get_fields_from_path(model, path)[-1]
    if isinstance(field, models.DateTimeField):
        zone = timezone.get_current_timezone()
        return lambda value: value.astimezone(zone).isoformat() if value else None
    if isinstance(field, models.DateField):
        return lambda value: value.isoformat() if value else None
    if isinstance(field, models.CharField | models.TextField):
        return text_out
    return lambda value: value


def header_key(header) -> str:
    return " ".join(str(header or "").replace("_", " ").split()).lower()


def csv_chunks(headers: list[str], rows: Iterator[list]) -> Iterator[bytes]:
    # UTF-8 with a byte-order mark, as Excel's "CSV UTF-8" writes it, so that a double-click
    # opens accented names correctly; every importer here accepts it.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(headers)
    for count, row in enumerate(rows, 1):
        writer.writerow(["" if value is None else value for value in row])
        if count % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _json_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | Decimal):
        return str(value)  # a JSON number, exactly as stored (Decimal keeps its cents)
    return json.dumps(value, ensure_ascii=False)


def json_chunks(headers: list[str], rows: Iterator[list]) -> Iterator[bytes]:
    keys = [json.dumps(header) for header in headers]
    separator = "\n"
    chunk = ["["]
    for count, row in enumerate(rows, 1):
        fields = ", ".join(f"{k}: {_json_value(v)}" for k, v in zip(keys, row, strict=True))
        chunk.append(f"{separator}{{{fields}}}")
        separator = ",\n"
        if count % 1000 == 0:
            yield "".join(chunk).encode()
            chunk = []
    chunk.append("\n]\n")
    yield "".join(chunk).encode()


def xlsx_chunks(headers: list[str], rows: Iterator[list], title) -> Iterator[bytes]:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=str(title).capitalize()[:31])
    sheet.append(headers)
    for row in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    with tempfile.TemporaryFile() as out:
        book.save(out)
        out.seek(0)
        while chunk := out.read(1 << 16):
            yield chunk
