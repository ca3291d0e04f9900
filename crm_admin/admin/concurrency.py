"""No lost updates on the change forms: write only what the form changed, refuse a stale form.

A change form carries the `updated_at` it was opened at in a hidden field. On POST the admin
locks the row (`select_for_update()`, inside the transaction Django's changeform_view opens;
on SQLite the transaction itself serialises writers) and compares: a record changed since the
form was opened is not saved, and the form comes back with the user's input and a message
naming who changed it and when. Every write path (services, import, board, stage outcome)
bumps `updated_at`; adding a note does not (it moves only `last_contacted_at`, which no form
writes), so a note never makes a parent's form stale.
"""

from datetime import UTC, datetime

from django import forms
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext as _

VERSION_FIELD = "_version"
# The column every write path bumps; the form carries its value.
VERSION_COLUMN = "updated_at"


def version_token(value: datetime | None) -> str:
    """The version a form carries: the record's `updated_at` in UTC, to the microsecond."""
    return value.astimezone(UTC).isoformat() if value else ""


def _parse_token(token: str) -> datetime | None:
    try:
        return datetime.fromisoformat(token) if token else None
    except ValueError:
        return None


def _moment(value: datetime) -> str:
    local = timezone.localtime(value)
    same_day = local.date() == timezone.localdate()
    return format_date(local, "H:i" if same_day else "Y-m-d H:i")


def conflict_message(obj, *, since: datetime | None) -> str:
    """Who changed `obj` after `since` and when, from its latest admin history entry (one
    query, plus one content-type lookup the first time); the time of `updated_at` alone when
    no entry says more."""
    model = obj._meta.verbose_name
    entry = None
    if since is not None:
        entry = (
            LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(obj),
                object_id=str(obj.pk),
                action_time__gt=since,
            )
            .select_related("user")
            .order_by("-action_time", "-pk")
            .first()
        )
    if entry is None:
        return _(
            "This %(model)s was changed at %(time)s, after you opened it. Your changes are "
            "below and were not saved: reload the page to see the current values, then apply "
            "them again."
        ) % {"model": model, "time": _moment(getattr(obj, VERSION_COLUMN))}
    values = {
        "user": entry.user.get_full_name() or entry.user.get_username(),
        "model": model,
        "time": _moment(entry.action_time),
        "change": entry.get_change_message().rstrip("."),
    }
    if not values["change"]:
        return (
            _(
                "%(user)s changed this %(model)s at %(time)s. Your changes are below and were "
                "not saved: reload the page to see the current values, then apply them again."
            )
            % values
        )
    return (
        _(
            "%(user)s changed this %(model)s at %(time)s (%(change)s). Your changes are below "
            "and were not saved: reload the page to see the current values, then apply them "
            "again."
        )
        % values
    )


class VersionedFormMixin(forms.Form):
    """A model form that remembers the version of the record it was opened at and refuses to
    validate when the record (as locked for this save) has another version now."""

    _version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial.setdefault(
                VERSION_FIELD, version_token(getattr(self.instance, VERSION_COLUMN))
            )

    def clean(self):
        cleaned_data = super().clean()
        if self.instance.pk is None:
            return cleaned_data
        opened = self.cleaned_data.get(VERSION_FIELD, "")
        if not _parse_token(opened):
            self.add_error(
                None,
                _(
                    "This form does not say which version of the %(model)s it was opened at, "
                    "so saving it could overwrite newer changes. Reload the page, then apply "
                    "your changes again."
                )
                % {"model": self.instance._meta.verbose_name},
            )
        elif opened != version_token(getattr(self.instance, VERSION_COLUMN)):
            self.add_error(None, conflict_message(self.instance, since=_parse_token(opened)))
        return cleaned_data


class OptimisticConcurrencyMixin:
    """For a ModelAdmin whose model has `updated_at`: a stale change form is refused (see the
    module docstring) and a save writes only the columns the form changed, plus `updated_at`.

    Fields a rule owns (`last_contacted_at`, `closed_at`) are read-only or not editable, so
    they are never in the form; a stage change widens the columns in `Deal.save()`.
    """

    def _is_change_post(self, request) -> bool:
        match = request.resolver_match
        return (
            request.method == "POST"
            and match is not None
            and match.url_name == f"{self.opts.app_label}_{self.opts.model_name}_change"
        )

    def get_object(self, request, object_id, from_field=None):
        if not self._is_change_post(request):
            return super().get_object(request, object_id, from_field)
        # As Django's get_object, with the row locked until the save commits. Only the record's
        # own row: its nullable joins (company, owner) cannot be locked on PostgreSQL.
        queryset = self.get_queryset(request).select_for_update(of=("self",))
        field = self.opts.pk if from_field is None else self.opts.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not self.has_change_permission(request, obj):
            return fieldsets
        # The hidden version travels inside the form's first fieldset, which Unfold renders as
        # a hidden row; a declared form field outside the fieldsets would not be rendered.
        (name, options), *rest = fieldsets
        first = (name, {**options, "fields": [*options["fields"], VERSION_FIELD]})
        return [first, *rest]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if change:
            form = kwargs.get("form", self.form)
            kwargs["form"] = type(form.__name__, (VersionedFormMixin, form), {})
        return super().get_form(request, obj, change, **kwargs)

    def changed_columns(self, form) -> list[str]:
        """The concrete columns the form changed, plus the version field; [] when none."""
        columns = []
        for name in form.changed_data:
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if field.concrete and not field.many_to_many:
                columns.append(field.name)
        changed_m2m = any(
            field.name in form.changed_data for field in self.model._meta.many_to_many
        )
        if columns or changed_m2m:
            columns.append(VERSION_COLUMN)
        return columns

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        columns = self.changed_columns(form)
        # Nothing changed (a note added alone): no write, so other open forms stay current.
        # This is the last save_model before Django's obj.save(); Unfold's own (it runs
        # `actions_submit_line`, which these admins do not use) is not reached for a change.
        if columns:
            obj.save(update_fields=columns)

    def save_related(self, request, form, formsets, change):
        if not change:
            super().save_related(request, form, formsets, change)
            return
        # As Django's save_related, but a many-to-many field the form left alone is not
        # rewritten (its links may have changed since the form was opened).
        for field in self.model._meta.many_to_many:
            if field.name in form.changed_data:
                field.save_form_data(form.instance, form.cleaned_data[field.name])
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
