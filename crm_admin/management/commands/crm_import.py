"""`manage.py crm_import {companies,contacts,deals} FILE [--dry-run] [--all-errors]`: all rows
or none. Companies and contacts that look like duplicates of existing records, or of other
rows, are listed (the first 200) with their row numbers and the records' ids, and imported as
they are."""

import argparse
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm_admin.resources import ERROR_LINES, FORMATS, RESOURCES, ImportFileError
from crm_admin.resources.duplicates import flag_lines


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, stream, enabled: bool):
        self.stream, self.enabled = stream, enabled
        self.drawn_at = 0.0
        self.phase = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if phase == self.phase and done < total and now - self.drawn_at < 0.1:
            return
        if self.phase not in (None, phase):
            self.stream.write("\n")
        self.phase, self.drawn_at = phase, now
        share = done / total if total else 1
        bar = "#" * int(share * 30)
        self.stream.write(f"\r{phase:<8} [{bar:<30}] {share:4.0%} {done:,}/{total:,}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.phase:
            self.stream.write("\n")


class Command(BaseCommand):
    help = (
        "Import companies, contacts or deals from a CSV, XLSX or JSON file (format from the "
        "extension, else CSV). All rows or none: any error is listed and nothing is written. "
        "Rows that look like duplicates of existing records or of other rows are listed too, "
        "and imported as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", choices=sorted(RESOURCES))
        parser.add_argument("file", help="The file to import.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row, write nothing."
        )
        parser.add_argument(
            "--all-errors",
            action="store_true",
            help=f"List every error (default: the first {ERROR_LINES}, and how many more).",
        )
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=sorted(FORMATS),
            help="The file's format, when its extension does not say.",
        )
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Show a progress bar on stderr (default: when stderr is a terminal).",
        )

    def handle(self, *args, model, file, dry_run, all_errors, file_format, progress, **options):
        path = Path(file)
        if file_format is None:
            extension = path.suffix.lower().lstrip(".")
            file_format = extension if extension in FORMATS else "csv"
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror or error}") from None
        try:
            dataset = FORMATS[file_format]().create_dataset(data)
        except ImportFileError as error:
            raise CommandError(f"{file}: {error}") from None
        del data

        stderr = getattr(self.stderr, "_out", sys.stderr)
        bar = Progress(stderr, stderr.isatty() if progress is None else progress)
        resource = RESOURCES[model]()
        result = resource.import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=False,
            use_transactions=True,
            file_name=path.name,
            progress=bar,
            preview_rows=0,
            error_lines=None if all_errors else ERROR_LINES,
            flag_duplicates=True,
        )
        bar.close()

        if result.ignored_columns:
            self.stdout.write(f"Ignored columns: {', '.join(result.ignored_columns)}.")
        lines = result.error_lines()
        for line in lines:
            self.stderr.write(str(line))
        if result.errors_hidden:
            self.stderr.write(f"… and {result.errors_hidden:,} more (--all-errors lists them all).")
        if result.error_total:
            self.stdout.write(
                f"{model}: {result.total_rows:,} rows checked, {result.errors:,} with errors."
            )
            total = result.error_total
            noun = "error" if total == 1 else "errors"
            raise CommandError(f"{total:,} {noun}: nothing was imported.")
        to = "to be " if dry_run else ""
        self.stdout.write(
            f"{model}: {result.total_rows:,} rows: {result.created:,} {to}created, "
            f"{result.updated:,} {to}updated, {result.unchanged:,} unchanged, 0 errors."
        )
        if created := result.related_summary():
            self.stdout.write(f"{'Would also create' if dry_run else 'Also created'}: {created}.")
        if duplicates := result.duplicates:
            how = "will be" if dry_run else "were"
            self.stdout.write(f"{duplicates.summary} They {how} imported as they are:")
            for line in flag_lines(duplicates):
                self.stdout.write(f"  {line}")
            if duplicates.hidden:
                self.stdout.write(f"  … and {duplicates.hidden:,} more rows.")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
