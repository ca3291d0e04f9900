"""Merging duplicates in the admin: the "Merge…" list action and the merge page.

The action (on the contact and company lists) sends the selection to `<list>/merge/?ids=1,2`,
the page the duplicates page's "Merge…" button also links to. The page shows the records side
by side: which one stays, and for each field whose values differ, whose value to keep; what
each record brings (counts only: a rep who sees only their own deals learns no other deal's
details). It works without JavaScript; the POST calls crm_admin.merging. The action and the
page need the change and the delete permission on the model.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.widgets import UnfoldAdminRadioSelectWidget

from crm_admin import merging
from crm_admin.formats import parse_id
from crm_admin.models import Company, Contact, ContactNote, Deal, MergedRecord, _count_subquery

logger = logging.getLogger(__name__)

IDS_PARAMETER = "ids"
EMPTY = "—"


@dataclass(frozen=True)
class MergePage:
    """What the merge page of one model shows and calls: the rows each record brings
    (`counts`: annotation name, label, related model, its key to the record), the count
    that picks the record kept by default (most of them, then the oldest), the service."""

    spec: merging.MergeSpec
    service: Callable
    counts: tuple[tuple[str, str, type, str], ...]
    default_by: str
    related: tuple[str, ...] = ()


PAGES = {
    Contact: MergePage(
        spec=merging.CONTACT_MERGE,
        service=merging.contacts_merge,
        counts=(
            ("deal_count", gettext_lazy("Deals"), Deal, "contact"),
            ("note_count", gettext_lazy("Notes"), ContactNote, "contact"),
            ("tag_count", gettext_lazy("Tags"), Contact.tags.through, "contact"),
            ("merged_count", gettext_lazy("Earlier merges"), MergedRecord, "contact"),
        ),
        default_by="deal_count",
        related=("company", "owner"),
    ),
    Company: MergePage(
        spec=merging.COMPANY_MERGE,
        service=merging.companies_merge,
        counts=(
            ("contact_count", gettext_lazy("Contacts"), Contact, "company"),
            ("merged_count", gettext_lazy("Earlier merges"), MergedRecord, "company"),
        ),
        default_by="contact_count",
    ),
}


def merge_url(model, ids) -> str:
    """The merge page of `model` for the records `ids`."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_merge")
    return f"{url}?{IDS_PARAMETER}={','.join(str(pk) for pk in ids)}"


def parse_ids(text: str | None) -> tuple[list[int], str | None]:
    """The record ids of `text` ("1,2,3"), each once in order, or an error message. Reads at
    most MAX_MERGED + 1 parts, however long the text."""
    parts = (text or "").split(",", merging.MAX_MERGED)
    if len(parts) > merging.MAX_MERGED:
        return [], _("At most %(limit)d records can be merged at once.") % {
            "limit": merging.MAX_MERGED
        }
    ids = [parse_id(part) for part in parts if part.strip()]
    if None in ids:
        return [], _("Those records are not valid: nothing was merged.")
    ids = list(dict.fromkeys(ids))
    if len(ids) < 2:
        return [], _("Choose at least two records to merge.")
    return ids, None


# Django offers an action to a user with ANY of its `permissions`: "merge" is the two together
# (MergeAdminMixin.has_merge_permission).
@admin.action(description=gettext_lazy("Merge…"), permissions=["merge"])
def merge_selected(model_admin, request, queryset):
    """Send the selection to the merge page; 2 to MAX_MERGED records (one query)."""
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: merging.MAX_MERGED + 1])
    plural = model_admin.model._meta.verbose_name_plural
    if len(ids) < 2:
        message = _("Select at least two %(plural)s to merge.") % {"plural": plural}
    elif len(ids) > merging.MAX_MERGED:
        message = _("Select at most %(limit)d %(plural)s to merge.") % {
            "limit": merging.MAX_MERGED,
            "plural": plural,
        }
    else:
        return HttpResponseRedirect(merge_url(model_admin.model, ids))
    model_admin.message_user(request, message, messages.WARNING)
    return None


class MergeForm(forms.Form):
    """Which record stays (`survivor`) and, per field whose values differ, whose value to
    keep (`value_<choice>`), each a record's id; `version` is what the records were when the
    page was shown."""

    version = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, records, survivor, differing: dict, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(record.pk, str(record)) for record in records]
        self.fields["survivor"] = forms.TypedChoiceField(
            label=_("Record kept"),
            choices=choices,
            coerce=int,
            initial=survivor.pk,
            widget=UnfoldAdminRadioSelectWidget,
        )
        for choice, (label, initial) in differing.items():
            self.fields[f"value_{choice}"] = forms.TypedChoiceField(
                label=label,
                choices=choices,
                coerce=int,
                initial=initial,
                widget=UnfoldAdminRadioSelectWidget,
            )
        self.fields["version"].initial = version_of(records)

    def chosen_values(self) -> dict[str, int]:
        prefix = "value_"
        return {
            name.removeprefix(prefix): pk
            for name, pk in self.cleaned_data.items()
            if name.startswith(prefix)
        }


def version_of(records) -> str:
    """A short token of the records' ids and `updated_at`: any change to one changes it."""
    state = ";".join(f"{r.pk}:{r.updated_at.isoformat()}" for r in records)
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def shown_value(record, choice: str, fields: tuple[str, ...]) -> str:
    """A field's value as the merge page shows it (no query: relations are loaded)."""
    if choice == "name" and isinstance(record, Contact):
        value = record.full_name
    elif choice == "next_step":
        value = record.next_step
        if value and record.next_step_due:
            value = _("%(step)s (due %(date)s)") % {
                "step": value,
                "date": date_format(record.next_step_due, "SHORT_DATE_FORMAT"),
            }
    elif choice == "owner":
        owner = record.owner
        value = (owner.get_full_name() or owner.get_username()) if owner else ""
    elif choice == "status":
        value = record.get_status_display()
    else:
        value = getattr(record, fields[0])
    return str(value) if value not in (None, "") else ""


def _raw(record, fields) -> tuple:
    return tuple(getattr(record, record._meta.get_field(name).attname) for name in fields)


class MergeAdminMixin:
    """For the contact and company admins: the merge page at `<list>/merge/?ids=…`."""

    merge_template = "admin/crm_admin/merge.html"

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_merge"
        # Before the ModelAdmin's own URLs, whose "<object_id>/" would swallow "merge/".
        return [
            path("merge/", self.admin_site.admin_view(self.merge_view), name=name),
            *super().get_urls(),
        ]

    def has_merge_permission(self, request) -> bool:
        """Merging changes the record kept and deletes the others: both permissions."""
        return self.has_change_permission(request) and self.has_delete_permission(request)

    def merge_records(self, ids: list[int]) -> list:
        """The records `ids` with what each brings, oldest first; one query."""
        page = PAGES[self.model]
        counts = {name: _count_subquery(model, fk) for name, _l, model, fk in page.counts}
        rows = self.model._default_manager.select_related(*page.related).annotate(**counts)
        return list(rows.filter(pk__in=ids).order_by("created_at", "pk"))

    def merge_view(self, request):
        if not self.has_merge_permission(request):
            raise PermissionDenied
        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        ids, error = parse_ids(request.GET.get(IDS_PARAMETER))
        records = self.merge_records(ids) if error is None else []
        if error is None and len(records) != len(ids):
            error = _(
                "Some of these %(plural)s no longer exist (merged or deleted since): nothing "
                "was merged. Select them again."
            ) % {"plural": self.opts.verbose_name_plural}
        if error is not None:
            self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(changelist)

        page = PAGES[self.model]
        survivor = max(records, key=lambda record: getattr(record, page.default_by))
        differing = {}
        for choice, fields in page.spec.choices.items():
            if len({_raw(record, fields) for record in records}) > 1:
                given = [r for r in records if shown_value(r, choice, fields)]
                keep = survivor if survivor in given or not given else given[0]
                differing[choice] = (page.spec.labels[choice], keep.pk)
        data = request.POST if request.method == "POST" else None
        # A record changed since the page was shown may differ in other fields now: the
        # page is shown again rather than the form's answers taken for other values.
        if data is not None and data.get("version") != version_of(records):
            self.message_user(
                request,
                _("These records changed since the page was shown: check the values again."),
                messages.WARNING,
            )
            return HttpResponseRedirect(request.get_full_path())
        form = MergeForm(data, records=records, survivor=survivor, differing=differing)
        if data is not None and form.is_valid():
            return self._merge(request, page, form, records)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Merge %(plural)s") % {"plural": self.opts.verbose_name_plural},
            "opts": self.opts,
            "form": form,
            "records": records,
            "table": self._merge_table(page, form, records, differing),
            "changelist_url": changelist,
        }
        return TemplateResponse(request, self.merge_template, context)

    def _merge(self, request, page: MergePage, form: MergeForm, records):
        by_id = {record.pk: record for record in records}
        survivor = by_id[form.cleaned_data["survivor"]]
        others = [record for record in records if record is not survivor]
        try:
            kept = page.service(
                survivor=survivor, others=others, values=form.chosen_values(), actor=request.user
            )
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        except DatabaseError:
            logger.exception("Merging %s %s failed", self.opts.model_name, list(by_id))
            self.message_user(
                request,
                _(
                    "The database refused the merge: nothing was changed. Try again, or ask an "
                    "administrator to look at the server's log."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        self.message_user(
            request,
            _("Merged %(count)d %(noun)s into %(kept)s.")
            % {"count": len(others), "noun": model_ngettext(self.opts, len(others)), "kept": kept},
            messages.SUCCESS,
        )
        change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        return HttpResponseRedirect(reverse(change, args=[kept.pk]))

    def _merge_table(self, page: MergePage, form: MergeForm, records, differing) -> dict:
        """The page's table: a column per record, a row per field and per count."""
        change = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        columns = [
            {"record": record, "url": reverse(change, args=[record.pk]), "radio": radio}
            for record, radio in zip(records, form["survivor"], strict=True)
        ]
        fields = []
        for choice, names in page.spec.choices.items():
            radios = list(form[f"value_{choice}"]) if choice in differing else [None] * len(records)
            fields.append(
                {
                    "label": page.spec.labels[choice],
                    "differs": choice in differing,
                    "cells": [
                        {"value": shown_value(record, choice, names) or EMPTY, "radio": radio}
                        for record, radio in zip(records, radios, strict=True)
                    ],
                }
            )
        counts = [
            {"label": label, "cells": [getattr(record, name) for record in records]}
            for name, label, _model, _fk in page.counts
        ]
        return {"columns": columns, "fields": fields, "counts": counts}
