"""The company and contact forms ask before saving a likely duplicate.

A record as entered that matches existing ones (crm_admin.duplicates.duplicates_of: the same
name or website for a company; the same phone, or the same name at the same company, for a
contact) is not saved the first time: the form comes back with the user's input, the
matching records (links to their pages, and why each matches) and a box "Save anyway: this
is a different ..." above the fields. Posted again with the box ticked, it saves, whichever
save button was pressed (and from an add popup too); a legitimate record is never refused.

An edit is checked only when it changes a field the keys depend on (match_fields()): saving
an old duplicate for another reason does not ask again. The check runs once the form is
otherwise valid (a stale form or a bad email is said first), costs at most two queries, and
none on an edit that leaves those fields alone. The confirmation holds for the post that
carries it.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorList
from django.urls import reverse
from django.utils.translation import gettext as _

from crm_admin.duplicates import duplicates_of, match_fields
from crm_admin.models import Contact

CONFIRM_FIELD = "_confirm_not_duplicate"


class DuplicateCheckFormMixin(forms.Form):
    """A model form that, once otherwise valid, refuses a record matching existing ones
    unless CONFIRM_FIELD is ticked; the matches are left in `duplicate_matches`."""

    _confirm_not_duplicate = forms.BooleanField(required=False)

    duplicate_matches: list | tuple = ()

    def full_clean(self):
        super().full_clean()
        if not self.is_bound or self._errors or self.cleaned_data.get(CONFIRM_FIELD):
            return
        record = self.instance
        if record.pk is not None and not match_fields(type(record)) & set(self.changed_data):
            return
        self.duplicate_matches = duplicates_of(record)
        if self.duplicate_matches:
            # On the confirmation field, which the page does not render among the fields:
            # the warning above the form says it (DuplicateWarningMixin.render_change_form).
            self.add_error(
                CONFIRM_FIELD,
                ValidationError(
                    _("This %(model)s may already exist. Confirm that it is a different one.")
                    % {"model": record._meta.verbose_name},
                    code="possible_duplicate",
                ),
            )


class DuplicateWarningMixin:
    """For the company and contact admins: the form above, and the warning box drawn by
    admin/crm_admin/duplicate_warning.html (Unfold's `change_form_before_template`, inside
    the form, above the fields)."""

    change_form_before_template = "admin/crm_admin/duplicate_warning.html"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = kwargs.get("form", self.form)
        kwargs["form"] = type(form.__name__, (DuplicateCheckFormMixin, form), {})
        return super().get_form(request, obj, change, **kwargs)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        if form.duplicate_matches:
            context["duplicate_warning"] = self.duplicate_warning(form)
            # The warning replaces Unfold's "Please correct the error below": the confirmation
            # is no error to correct. Other errors (a notes inline's) still show.
            own = form.errors.get(CONFIRM_FIELD)
            context["errors"] = ErrorList([e for e in context["errors"] if e is not own])
        return super().render_change_form(request, context, add, change, form_url, obj)

    def duplicate_warning(self, form) -> dict:
        """What the warning shows: each match with its link, details and reasons (the
        records duplicates_of() read, with their label fields: no query)."""
        opts = self.model._meta
        rows = []
        for match in form.duplicate_matches:
            record = match.record
            rows.append(
                {
                    "label": _record_label(record),
                    "details": _record_details(record),
                    "reasons": match.reasons,
                    "url": reverse(
                        f"admin:{opts.app_label}_{opts.model_name}_change", args=[record.pk]
                    ),
                }
            )
        return {
            "rows": rows,
            "field": CONFIRM_FIELD,
            "title": _("Not saved yet: this %(model)s may already exist.")
            % {"model": opts.verbose_name},
            "confirm_label": _("Save anyway: this is a different %(model)s")
            % {"model": opts.verbose_name},
        }


def _record_label(record) -> str:
    return record.full_name if isinstance(record, Contact) else record.name


def _record_details(record) -> list[str]:
    if isinstance(record, Contact):
        company = record.company
        return [record.email, *([company.name] if company is not None else [])]
    return [record.website] if record.website else []
