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

import tablib
from django.contrib.admin.utils import get_fields_from_path
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export.formats import base_formats

BATCH_SIZE = 2000
PREVIEW_ROWS = 100
UNSET = object()  # a cleaned cell meaning "leave the record's value as it is"


# --- reading files ------------------------------------------------------------------------


class ImportFileError(ValueError):
    """The file cannot be read as a table; the message says why, in the user's words."""


def _save_as_utf8() -> str:
    return _("Save it as “CSV UTF-8” in your spreadsheet and import it again.")


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def decode_text(data: bytes) -> str:
    """`data` as text: UTF-8 with or without a byte-order mark, UTF-16 with one, else
    Windows-1252 (a superset of Latin-1, what spreadsheets on Windows write)."""
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            _("This is an Excel (XLSX) workbook, not a text file: import it as XLSX.")
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data[:65536]:
        raise ImportFileError(_("This is not a text file (it contains binary data)."))
    elif data.startswith(codecs.BOM_UTF8):
        try:
            text = data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError as error:
            raise ImportFileError(
                _("The file starts as UTF-8 but byte %(byte)d is not valid UTF-8. %(advice)s")
                % {"byte": error.start + len(codecs.BOM_UTF8) + 1, "advice": _save_as_utf8()}
            ) from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                raise ImportFileError(
                    _("The file is neither UTF-8 nor Windows-1252 (Latin-1) text. %(advice)s")
                    % {"advice": _save_as_utf8()}
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


def _dataset(rows: Iterable[Iterable]) -> tablib.Dataset:
    """A Dataset of `rows` (the first is the header): short rows padded, empty trailing cells
    dropped, and a row longer than the header refused."""
    rows = iter(rows)
    header = list(next(rows, None) or [])
    while header and header[-1] in (None, ""):
        header.pop()
    if not header:
        raise ImportFileError(_("The file is empty."))
    width = len(header)
    data = []
    for number, row in enumerate(rows, 2):
        row = list(row)
        while len(row) > width and row[-1] in (None, ""):
            row.pop()
        if len(row) > width:
            raise ImportFileError(
                _("Row %(row)d has %(cells)d values but the header has only %(columns)d columns.")
                % {"row": number, "cells": len(row), "columns": width}
            )
        data.append(row + [""] * (width - len(row)))
    if not data:
        raise ImportFileError(_("The file has a header row but no rows to import."))
    return tablib.Dataset(*data, headers=[str(h if h is not None else "") for h in header])


def read_csv(data: bytes) -> tablib.Dataset:
    text = decode_text(data)
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        return _dataset(reader)
    except csv.Error as error:
        raise ImportFileError(
            _("Row %(row)d cannot be read: %(error)s.") % {"row": reader.line_num, "error": error}
        ) from None


def read_xlsx(data: bytes) -> tablib.Dataset:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        # openpyxl raises zipfile, XML, key and value errors alike for a file it cannot read.
        raise ImportFileError(_("This is not an Excel (XLSX) workbook.")) from None
    try:
        return _dataset(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()


def read_json(data: bytes) -> tablib.Dataset:
    try:
        items = json.loads(decode_text(data), parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ImportFileError(
            _("This is not valid JSON: %(error)s at line %(line)d, column %(column)d.")
            % {"error": error.msg, "line": error.lineno, "column": error.colno}
        ) from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ImportFileError(_("A JSON import must be a list of objects, one per row."))
    headers = list(dict.fromkeys(key for item in items for key in item))
    return _dataset([headers, *([item.get(h) for h in headers] for item in items)])


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
# A sign followed only by digits, spaces and phone or number punctuation: -12.5, +1 555 0100.
_SIGNED_NUMBER = re.compile(r"[+-][\d\s().\-/]*\d[\d\s().\-/]*")


def _looks_like_formula(text: str) -> bool:
    body = text.lstrip("'")
    if not body or body[0] not in _FORMULA_START:
        return False
    return not (body[0] in "+-" and _SIGNED_NUMBER.fullmatch(body))


def neutralise(text: str) -> str:
    """`text` made safe to open in a spreadsheet: a leading apostrophe when a spreadsheet would
    run it as a formula (=, @, tab, carriage return, or + and - not followed by a number).
    Text that already starts with apostrophes before a formula gets one more, so that
    `unneutralise` gives back exactly the original."""
    return f"'{text}" if _looks_like_formula(text) else text


def unneutralise(text: str) -> str:
    """The inverse of `neutralise`: an exported file re-imports unchanged."""
    return text[1:] if text.startswith("'") and _looks_like_formula(text) else text


def cell_text(value) -> str:
    """A cell as text, whatever type the file format gave it (XLSX numbers and dates, JSON
    numbers, lists and nulls)."""
    if value is None:
        return ""
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
