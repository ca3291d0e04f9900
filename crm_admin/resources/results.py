"""What an import reports: totals, the first rows for the preview, and the first errors."""

from dataclasses import dataclass

from django.contrib.admin.utils import model_ngettext
from django.db import models
from django.utils.translation import gettext as _
from import_export.results import Result, RowResult

ERROR_LINES = 100  # the errors an import keeps and shows; the totals count them all


@dataclass
class PreviewRow:
    number: int
    import_type: str
    cells: list[tuple[str, bool]]  # (the value as in the file, whether the record changes)
    changed: list[str]
    duplicate: str = ""  # why the row looks like a duplicate, when it does


@dataclass
class ErrorLine:
    row: int | None
    column: str | None
    message: str
    value: str = ""

    def __str__(self) -> str:
        where = [_("row %d") % self.row] if self.row else []
        if self.column:
            where.append(_("column %s") % self.column)
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ImportResult(Result):
    """django-import-export's Result plus what the preview and the command show: totals of
    every row, the first rows for the preview, the records created along with the rows, and
    the first `error_limit` errors (None: all) with the count of every one, so that a file
    with 150,000 bad rows costs a page and the memory of 100 errors."""

    def __init__(self):
        super().__init__()
        self.file_name = None
        self.error_limit: int | None = ERROR_LINES
        self.invalid_count = 0  # rows with an error, kept or not
        self.error_count = 0  # errors (one per row and column), kept or not
        self.ignored_columns: list[str] = []
        self.related_created: dict[type[models.Model], int] = {}
        self.preview_rows: list[PreviewRow] = []
        self.duplicates = None  # a DuplicateReport (resources/duplicates.py) when flagged

    @property
    def created(self) -> int:
        return self.totals[RowResult.IMPORT_TYPE_NEW]

    @property
    def updated(self) -> int:
        return self.totals[RowResult.IMPORT_TYPE_UPDATE]

    @property
    def unchanged(self) -> int:
        return self.totals[RowResult.IMPORT_TYPE_SKIP]

    @property
    def errors(self) -> int:
        """Rows with an error, plus errors of the whole file."""
        return self.invalid_count + len(self.base_errors)

    @property
    def error_total(self) -> int:
        """Every error, kept or not: one per row and column, plus those of the whole file."""
        return self.error_count + len(self.base_errors)

    @property
    def errors_hidden(self) -> int:
        """Errors counted but not kept (beyond `error_limit`)."""
        if self.error_limit is None:
            return 0
        return max(0, self.error_total - self.error_limit)

    def has_validation_errors(self) -> bool:
        # django-import-export reads the kept rows; a row may be counted but not kept.
        return self.invalid_count > 0

    def append_invalid_row(self, number, row, validation_error):
        self.invalid_count += 1
        if self.error_limit is None or self.error_count < self.error_limit:
            super().append_invalid_row(number, row, validation_error)
        self.error_count += sum(
            len(messages) for messages in validation_error.message_dict.values()
        )

    def related_summary(self) -> str:
        """ "2 companies, 1 tag": the records created along with the rows."""
        return ", ".join(
            f"{count:,} {model_ngettext(model, count)}"
            for model, count in self.related_created.items()
            if count
        )

    @property
    def preview_hidden(self) -> int:
        return self.created + self.updated + self.unchanged - len(self.preview_rows)

    def error_lines(self) -> list[ErrorLine]:
        """The kept errors (at most `error_limit` of them), one per row and column, in row
        order; file-level ones first."""
        lines = [ErrorLine(None, None, str(error.error)) for error in self.base_errors]
        for row in self.invalid_rows:
            values = dict(zip(self.diff_headers, row.values, strict=False))
            for column, messages in row.error_dict.items():
                for message in messages:
                    lines.append(ErrorLine(row.number, column, message, values.get(column, "")))
        return lines if self.error_limit is None else lines[: self.error_limit]
