"""The shared machinery of the CRM resources: the import plan, row checks, results, export."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import batched

import tablib
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from import_export import exceptions, resources
from import_export.results import Error, RowResult

from crm_admin.folding import fold
from crm_admin.locks import transaction_lock
from crm_admin.models import Tag, next_step_constraint
from crm_admin.resources.files import (
    BATCH_SIZE,
    PREVIEW_ROWS,
    cell_text,
    csv_chunks,
    exporter,
    header_key,
    json_chunks,
    row_numbers,
    text_out,
    xlsx_chunks,
)
from crm_admin.resources.results import ERROR_LINES, ImportResult, PreviewRow


@dataclass(slots=True)
class Plan:
    """What one valid row does: create or update `instance`, or leave it (skip)."""

    number: int
    import_type: str
    instance: models.Model | None
    changed: list[str] = field(default_factory=list)
    related: dict[str, str] = field(default_factory=dict)  # attname -> key of a new company
    tags: list[str] | None = None  # the folded tag names to set; None leaves the tags
    # column -> what the preview shows instead of the file's value, where a rule stores
    # another value than the file's (a closed deal's next step, cleared)
    shown: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    name: str
    export: str | None  # the values_list() path exported; None for tags
    required: bool = False
    labels: tuple[str, ...] = ()


class RowError(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column, self.message = column, message


def clean_cell(model, field_name: str, value):
    """`value` cleaned by the model field: type conversion, choices, length and validators."""
    return model._meta.get_field(field_name).clean(value, None)


def parse_timestamp(text: str) -> datetime:
    """An import cell as an aware timestamp (naive ones in TIME_ZONE, a date alone at
    midnight); ValidationError for text that is no timestamp, no real date, or outside what
    the database can store once in UTC."""
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        raise ValidationError(_("“%s” is not a real date and time.") % text) from None
    if parsed is None:
        raise ValidationError(
            _("“%s” is not an ISO 8601 timestamp, such as 2025-03-31T14:30:00+02:00.") % text
        )
    parsed = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
    try:
        # The database stores UTC: 9999-12-31T23:59:59-05:00 is in the year 10000 there.
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            _("“%s” is outside the dates that can be stored (the years 1 to 9999 in UTC).") % text
        ) from None
    return parsed


def check_next_step(instance, cleaned: dict) -> None:
    """Refuse, as the row's error, a next step's date without a step: the model's constraint
    (next_step_constraint), checked on the record as the row leaves it, so that the file is
    told which row and column instead of the database refusing the whole import. The date
    is blamed when the row gives one, else the step (emptied while the record keeps a date)."""
    if instance.next_step_due is None or instance.next_step:
        return
    message = next_step_constraint(instance._meta.model_name).get_violation_error_message()
    if "next_step_due" in cleaned:
        raise RowError("next_step_due", message)
    raise RowError(
        "next_step",
        _(
            "%(message)s The record's next step is due on %(due)s: to clear it, add the "
            "next_step_due column and leave it empty."
        )
        % {"message": message, "due": instance.next_step_due.isoformat()},
    )


class OwnerColumn:
    """The `owner` column of a resource: an existing user's username or, when one user alone
    has it, email, ignoring case. prefetch() calls `_load_users()` (one query)."""

    def _load_users(self) -> None:
        users: dict[str, object] = {}
        for pk, username, email in get_user_model().objects.values_list("pk", "username", "email"):
            if email:
                key = fold(email)
                users[key] = "ambiguous" if users.get(key, pk) != pk else pk
            users[fold(username)] = pk
        self.users = users

    def clean_owner(self, text):
        if not text:
            return None
        found = self.users.get(fold(text))
        if found is None:
            raise ValidationError(_("No user has the username or email “%s”.") % text)
        if found == "ambiguous":
            raise ValidationError(_("Several users have the email “%s”: give the username.") % text)
        return found


class CrmResource(resources.ModelResource):
    """The import and export machinery the three resources share; see the module docstring.

    A subclass lists its `columns`; cleans those that are not plain model fields in
    `clean_<column>(text)` (returning the value, UNSET, or raising ValidationError); loads what
    rows look up in `prefetch()` and `prefetch_batch()`; turns a cleaned row into a `Plan` in
    `plan_row()`; and writes the plans in `write()`.
    """

    columns: tuple[Column, ...] = ()
    has_tags = False
    rules = ""  # how rows match records, for the people importing

    class Meta:
        use_transactions = True

    # The file's columns.

    @classmethod
    def column_names(cls) -> list[str]:
        return [column.name for column in cls.columns]

    @classmethod
    def header_aliases(cls) -> dict[str, str]:
        """Every header accepted for each column, normalised, mapped to the column's name."""
        aliases = {}
        for column in cls.columns:
            names = {column.name, *column.labels}
            with suppress(FieldDoesNotExist):
                names.add(str(cls._meta.model._meta.get_field(column.name).verbose_name))
            aliases.update((header_key(name), column.name) for name in names)
        return aliases

    def get_export_headers(self, selected_fields=None):
        return self.column_names()

    # Import.

    def import_data_inner(
        self, dataset, dry_run, raise_errors, using_transactions, collect_failed_rows, **kwargs
    ):
        """Check every row, then (unless `dry_run` or any row is wrong) write them all.

        Called by import_data(), which wraps it in a transaction rolled back on errors. Extra
        keyword arguments: `progress(phase, done, total)`, `preview_rows` (how many rows the
        result keeps for display), `error_lines` (how many errors it keeps, None for all; it
        counts every one), `flag_duplicates` (flag the rows making likely duplicates in
        `result.duplicates`, before writing; default: in a dry run) and django-import-export's
        `retain_instance_in_row_result` (keep every written instance, for the admin history).

        An import that writes holds the model's import lock (see `lock_import`) from before
        the first row is read until its transaction ends, so two imports of one model run one
        after the other and the second matches its rows against what the first wrote. A dry
        run (the admin's preview) does not lock.
        """
        if dry_run:
            return self._check_and_write(dataset, dry_run, raise_errors, **kwargs)
        # Joins import_data()'s transaction; starts one when the caller asked for none, since
        # the lock lasts only as long as a transaction.
        with transaction.atomic(using=self.get_db_connection_name(), savepoint=False):
            self.lock_import()
            return self._check_and_write(dataset, dry_run, raise_errors, **kwargs)

    def lock_import(self) -> None:
        """Wait for and take the lock that serialises the imports of this resource's model,
        held until the current transaction ends (crm_admin/locks.py; one query on
        PostgreSQL, none on SQLite)."""
        transaction_lock(
            f"crm import {self._meta.model._meta.label}", using=self.get_db_connection_name()
        )

    def _check_and_write(self, dataset, dry_run, raise_errors, **kwargs):
        result = ImportResult()
        result.file_name = kwargs.get("file_name")
        # Who imports: django-import-export's admin passes the request's user; the command none.
        self.importing_user = kwargs.get("user")
        result.error_limit = kwargs.get("error_lines", ERROR_LINES)
        progress = kwargs.get("progress") or (lambda phase, done, total: None)
        preview_limit = kwargs.get("preview_rows", PREVIEW_ROWS)
        positions = self._match_header(dataset.headers or [], result)
        if result.has_validation_errors():
            return result
        result.diff_headers = list(positions)
        rows = (
            (number, {name: cell_text(values[index]) for name, index in positions.items()})
            for number, values in zip(row_numbers(dataset), dataset, strict=False)
        )
        self.prefetch()

        plans: list[Plan] = []
        seen: dict[tuple, int] = {}
        # Blank rows (spreadsheets leave some at the end) are not records.
        for batch in batched(((n, raw) for n, raw in rows if any(raw.values())), BATCH_SIZE):
            result.total_rows += len(batch)
            self.prefetch_batch([raw for _number, raw in batch])
            for number, raw in batch:
                plan = self._plan(number, raw, seen, result)
                if plan is None:
                    continue
                result.totals[plan.import_type] += 1
                if len(result.preview_rows) < preview_limit:
                    changed = self._changed_columns(plan)
                    shown = {**raw, **plan.shown}
                    cells = [(shown[name], name in changed) for name in raw]
                    result.preview_rows.append(PreviewRow(number, plan.import_type, cells, changed))
                if plan.import_type != RowResult.IMPORT_TYPE_SKIP:
                    plans.append(plan)
            progress("checking", result.total_rows, len(dataset))
        result.totals[RowResult.IMPORT_TYPE_INVALID] = result.invalid_count
        result.related_created = self.related_created()
        if result.has_validation_errors():
            if raise_errors:
                lines = result.error_lines()
                raise exceptions.ImportError(str(lines[0]) if lines else _("The file has errors."))
            return result
        if kwargs.get("flag_duplicates", dry_run):
            progress("duplicates", 0, len(plans))
            result.duplicates = self.duplicate_flags(plans, result.preview_rows)
            progress("duplicates", len(plans), len(plans))
        if dry_run or not plans:
            return result
        try:
            with transaction.atomic(using=self.get_db_connection_name()):
                self.write(plans, lambda done: progress("writing", done, len(plans)))
        except (DatabaseError, ValidationError) as error:
            # A concurrent change (say, the same email added meanwhile) since the rows were
            # checked: import_data() rolls everything back.
            result.append_base_error(
                Error(_("The database refused the import, nothing was saved: %s") % error)
            )
            if raise_errors:
                raise
            return result
        if kwargs.get("retain_instance_in_row_result"):
            for plan in plans:
                row_result = RowResult()
                row_result.import_type = plan.import_type
                row_result.instance = plan.instance
                row_result.add_instance_info(plan.instance)
                result.append_row_result(row_result)
        return result

    def _match_header(self, headers: list, result: ImportResult) -> dict[str, int]:
        aliases = self.header_aliases()
        positions: dict[str, int] = {}
        errors: dict[str, list[str]] = {}
        for index, header in enumerate(headers):
            key = header_key(header)
            if not key:
                continue
            name = aliases.get(key)
            if name is None:
                result.ignored_columns.append(str(header).strip())
            elif name in positions:
                errors.setdefault(name, []).append(
                    _("The header names this column twice (columns %(first)d and %(second)d).")
                    % {"first": positions[name] + 1, "second": index + 1}
                )
            else:
                positions[name] = index
        for column in self.columns:
            if column.required and column.name not in positions:
                errors[column.name] = [
                    _("The file has no “%s” column, which is required.") % column.name
                ]
        if errors:
            result.append_invalid_row(1, {}, ValidationError(errors))
        return positions

    def _plan(self, number: int, raw: dict[str, str], seen: dict, result) -> Plan | None:
        errors: dict[str, list[str]] = {}
        cleaned = {}
        for name, text in raw.items():
            try:
                clean = getattr(self, f"clean_{name}", None)
                cleaned[name] = clean(text) if clean else self._clean_field(name, text)
            except ValidationError as error:
                errors[name] = error.messages
        plan = None
        if not errors:
            try:
                plan, identity, key_column = self.plan_row(number, cleaned)
            except RowError as error:
                errors[error.column] = [error.message]
            else:
                first = seen.setdefault(identity, number)
                if first != number:
                    errors[key_column] = [
                        _("The same record as row %(row)d: a record may appear only once.")
                        % {"row": first}
                    ]
        if errors:
            result.append_invalid_row(number, raw, ValidationError(errors))
            return None
        return plan

    def _clean_field(self, name: str, text: str):
        """A column that is a plain model field: empty is NULL where the field allows it."""
        field = self._meta.model._meta.get_field(name)
        return None if not text and field.null else field.clean(text, None)

    def _changed_columns(self, plan: Plan) -> list[str]:
        names = {column.name for column in self.columns}
        renamed = {"contact_id": "contact_email"}
        changed = [renamed.get(name, name.removesuffix("_id")) for name in plan.changed]
        if plan.tags is not None and plan.import_type == RowResult.IMPORT_TYPE_UPDATE:
            changed.append("tags")
        return [name for name in dict.fromkeys(changed) if name in names]

    def prefetch(self) -> None:
        """Load what rows look up (one query per table read, whatever the number of rows)."""

    def prefetch_batch(self, rows: list[dict[str, str]]) -> None:
        """Load the existing records a batch of rows may update."""

    def plan_row(self, number: int, cleaned: dict) -> tuple[Plan, tuple, str]:
        """The row's plan, its identity (to find keys repeated in the file) and the column
        to blame for a repeat. Raises RowError for a problem found only by looking up."""
        raise NotImplementedError

    def duplicate_flags(self, plans: list[Plan], preview_rows: list[PreviewRow]):
        """The rows that would make likely duplicates (resources/duplicates.py; the flagged
        `preview_rows` get their reason), or None for a model that is not deduplicated."""
        return None

    def related_created(self) -> dict[type[models.Model], int]:
        """How many companies or tags the rows bring (created by the import, unless dry)."""
        return {}

    def write(self, plans: list[Plan], progress: Callable[[int], None]) -> None:
        raise NotImplementedError

    def batch_written(self, plans: list[Plan]) -> None:
        """Called by `_write_rows` once a batch of plans is written (new instances have their
        ids): what the resource records along with its rows, in bulk."""

    # Shared steps.

    def _updated(self, instance, values: dict, number: int) -> Plan:
        """A plan that sets `values` on an existing `instance`; a skip when nothing differs."""
        changed = [name for name, value in values.items() if getattr(instance, name) != value]
        for name in changed:
            setattr(instance, name, values[name])
        kind = RowResult.IMPORT_TYPE_UPDATE if changed else RowResult.IMPORT_TYPE_SKIP
        return Plan(number, kind, instance, changed)

    def _tags_plan(self, plan: Plan, cleaned: dict, current: set[str]) -> None:
        """Give `plan` the row's tags when the file has the column and they differ."""
        if "tags" not in cleaned:
            return
        wanted = cleaned["tags"]
        if plan.import_type == RowResult.IMPORT_TYPE_NEW:
            plan.tags = list(wanted) if wanted else None
        elif set(wanted) != current:
            plan.tags = list(wanted)
            plan.import_type = RowResult.IMPORT_TYPE_UPDATE
        for key, name in wanted.items():
            if key not in self.tags:
                self.new_tags.setdefault(key, name)

    def _load_tags(self) -> None:
        self.tags = Tag.objects.ids_by_key()
        self.tag_keys = {pk: key for key, pk in self.tags.items()}
        self.new_tags: dict[str, str] = {}

    def clean_tags(self, text: str) -> dict[str, str]:
        """Comma-separated tag names -> {folded name: name as first written}."""
        tags: dict[str, str] = {}
        for name in text.split(","):
            name = name.strip()
            if name:
                tags.setdefault(fold(clean_cell(Tag, "name", name)), name)
        return tags

    def _create_missing(self, model, names: dict[str, str], known: dict[str, int]) -> None:
        """Create the companies or tags in `names` (folded name -> spelling) and refresh
        `known` (folded name -> id). One INSERT and one read of their ids per 2,000 names;
        a name someone added meanwhile is found, not duplicated."""
        for chunk in batched(names.items(), BATCH_SIZE):
            model.objects.bulk_create(
                [model(name=name) for _, name in chunk], ignore_conflicts=True
            )
            known.update(model.objects.ids_by_key(key for key, _ in chunk))

    def _write_rows(self, plans: list[Plan], progress: Callable[[int], None]) -> None:
        """bulk_create the new instances and bulk_update the changed ones, by batches."""
        now = timezone.now()
        done = 0
        for batch in batched(plans, BATCH_SIZE):
            new = [p.instance for p in batch if p.import_type == RowResult.IMPORT_TYPE_NEW]
            self._meta.model.objects.bulk_create(new, batch_size=BATCH_SIZE)
            changed = [p for p in batch if p.import_type == RowResult.IMPORT_TYPE_UPDATE]
            if changed:
                for plan in changed:
                    plan.instance.updated_at = now
                fields = sorted({name for p in changed for name in p.changed})
                self._meta.model.objects.bulk_update(
                    [p.instance for p in changed], [*fields, "updated_at"], batch_size=500
                )
            if self.has_tags:
                self._write_tags(batch)
            self.batch_written(batch)
            done += len(batch)
            progress(done)

    def _write_tags(self, plans: Iterable[Plan]) -> None:
        """Replace the tags of the rows that set them: one DELETE and one INSERT of link rows
        per batch."""
        through = self._meta.model.tags.through
        owner = f"{self._meta.model._meta.model_name}_id"
        setting = [p for p in plans if p.tags is not None]
        if not setting:
            return
        replaced = [p.instance.pk for p in setting if p.import_type == RowResult.IMPORT_TYPE_UPDATE]
        if replaced:
            through.objects.filter(**{f"{owner}__in": replaced}).delete()
        links = [
            through(**{owner: p.instance.pk, "tag_id": self.tags[key]})
            for p in setting
            for key in p.tags
        ]
        through.objects.bulk_create(links, batch_size=BATCH_SIZE, ignore_conflicts=True)

    def _current_tags(self, pks: list[int]) -> dict[int, set[str]]:
        through = self._meta.model.tags.through
        owner = f"{self._meta.model._meta.model_name}_id"
        current: dict[int, set[str]] = {}
        links = through.objects.filter(**{f"{owner}__in": pks}).values_list(owner, "tag_id")
        for pk, tag_id in links:
            current.setdefault(pk, set()).add(self.tag_keys.get(tag_id, f"#{tag_id}"))
        return current

    # Export.

    def get_queryset(self):
        return self._meta.model._default_manager.all()

    def export_values(self, queryset=None) -> Iterator[list]:
        """Each record's values in column order (numbers, ISO 8601 text, neutralised text),
        in the queryset's order, keeping its filters: one query streaming the rows, plus one
        for the tags of each 2,000."""
        queryset = self.get_queryset() if queryset is None else queryset
        model = self._meta.model
        paths = [column.export for column in self.columns if column.export]
        convert = [exporter(model, path) for path in paths]
        tags_at = [column.export for column in self.columns].index(None) if self.has_tags else -1
        rows = queryset.prefetch_related(None).values_list("pk", *paths)
        for chunk in batched(rows.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
            tags = self._tag_names([row[0] for row in chunk]) if self.has_tags else {}
            for pk, *values in chunk:
                cells = [to(value) for to, value in zip(convert, values, strict=True)]
                if tags_at >= 0:
                    cells.insert(tags_at, text_out(", ".join(tags.get(pk, ()))))
                yield cells

    def _tag_names(self, pks: list[int]) -> dict[int, list[str]]:
        """The tag names of each record in `pks`, sorted; one query. Written in SQL because
        the ORM prepares each of 2,000 `IN` values one by one, which was a third of the
        export's time; PostgreSQL takes the keys as one array rather than 2,000 parameters."""
        through = self._meta.model.tags.through
        qn = connection.ops.quote_name
        owner = qn(through._meta.get_field(self._meta.model._meta.model_name).column)
        tag = qn(through._meta.get_field("tag").column)
        if connection.vendor == "postgresql":
            wanted, params = f"l.{owner} = ANY(%s)", [list(pks)]
        else:
            wanted, params = f"l.{owner} IN ({', '.join(['%s'] * len(pks))})", list(pks)
        sql = (
            f"SELECT l.{owner}, t.{qn('name')} FROM {qn(through._meta.db_table)} l "
            f"JOIN {qn(Tag._meta.db_table)} t ON t.{qn('id')} = l.{tag} "
            f"WHERE {wanted} ORDER BY t.{qn('name')}"
        )
        names: dict[int, list[str]] = {}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for pk, name in cursor.fetchall():
                names.setdefault(pk, []).append(name)
        return names

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        """The export as a tablib Dataset of text cells (django-import-export's API); the
        admin and the command stream with `export_stream` instead."""
        dataset = tablib.Dataset(headers=self.column_names())
        for row in self.export_values(queryset):
            dataset.append(["" if value is None else str(value) for value in row])
        return dataset

    def export_stream(self, queryset=None, *, file_format: str = "csv") -> Iterator[bytes]:
        """The export file as chunks of bytes, never the whole file in memory (XLSX is
        assembled in a temporary file, as openpyxl's write-only mode must)."""
        rows = self.export_values(queryset)
        if file_format == "csv":
            return csv_chunks(self.column_names(), rows)
        if file_format == "json":
            return json_chunks(self.column_names(), rows)
        if file_format == "xlsx":
            return xlsx_chunks(
                self.column_names(), rows, self._meta.model._meta.verbose_name_plural
            )
        raise ValueError(f"unknown export format {file_format!r}")
