"""Next steps on the deal and contact pages, lists and board: the fieldset that saves with a
note, the reminder after a note, the list column, filter and sort, and a card's mark.

What a next step is and when it is due is the model's (models.NextStepDue,
next_step_due_condition() for querysets, NextStepFields.next_step_due_on() for one record);
this module only shows it. A closed deal has no next step (Deal.CLOSED_NEXT_STEP).
"""

from datetime import date

from django.contrib import messages
from django.db.models import F
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.contrib.filters.admin import DropdownFilter

from crm_admin import cells
from crm_admin.models import ContactNote, DealNote, NextStepDue

NOTE_MODELS = (ContactNote, DealNote)

FIELDSET = (
    gettext_lazy("Next step"),
    {
        "fields": [("next_step", "next_step_due")],
        "description": gettext_lazy(
            "What happens next, and by when: saved together with a note logged below."
        ),
    },
)

# The list column's sort: soonest first, records without a date last; Django reverses it
# (latest first, undated first), which the (next_step_due, id) indexes serve both ways.
ORDER = F("next_step_due").asc(nulls_last=True)

# Shown in colour and in words (never colour alone).
MARKS = {
    NextStepDue.OVERDUE: (gettext_lazy("Overdue"), "danger"),
    NextStepDue.TODAY: (gettext_lazy("Today"), "info"),
    NextStepDue.NONE: (gettext_lazy("No next step"), "warning"),
}


def due_text(due: date, today: date) -> str:
    """A due date as the pages say it: "28 Nov", with the year when it is not this year's."""
    return format_date(due, "j M" if due.year == today.year else "j M Y")


def step_cell(record, *, today: date) -> SafeString | None:
    """The list's "Next step" cell: Unfold's two-line header (the step, then its date with
    "Overdue" or "Today" as a label), drawn by cells; None (the empty value) without a step."""
    if not record.next_step:
        return None
    due = record.next_step_due
    if due is None:
        return cells.header(record.next_step)
    when = due_text(due, today)
    mark = MARKS.get(record.next_step_due_on(today=today))
    if mark is not None:
        when = format_html("{} {}", cells.label(*mark), when)
    return cells.header(record.next_step, when)


def card_mark(deal, *, is_open: bool, today: date) -> SafeString:
    """A board card's next step: the step and its date, marked "Overdue" when it is, or the
    mark "No next step" on an open deal without one; empty on a closed deal."""
    if not deal.next_step:
        return cells.label(*MARKS[NextStepDue.NONE]) if is_open else SafeString("")
    overdue = deal.next_step_due_on(today=today) == NextStepDue.OVERDUE
    return format_html(
        '<span class="block">{}</span>{}{}',
        deal.next_step,
        format_html(' <span class="text-subtle">{}</span>', due_text(deal.next_step_due, today))
        if deal.next_step_due
        else "",
        format_html(" {}", cells.label(*MARKS[NextStepDue.OVERDUE])) if overdue else "",
    )


class NextStepFilter(DropdownFilter):
    """Records by when their next step is due (NextStepDue), today in the current time zone;
    on deals, open ones only (DealQuerySet.next_step_due). My day links here."""

    title = gettext_lazy("next step")
    parameter_name = "next_step"

    def lookups(self, request, model_admin):
        return NextStepDue.choices

    def queryset(self, request, queryset):
        if self.value() in NextStepDue.values:
            return queryset.next_step_due(self.value(), today=timezone.localdate())
        return queryset


def reminder(record, *, is_open: bool = True, today: date | None = None) -> str | None:
    """What to say after a note was logged on `record`: that it has no next step, or that its
    step is overdue; None when the step is fine or the record is a closed deal."""
    if not is_open:
        return None
    today = today or timezone.localdate()
    due = record.next_step_due_on(today=today)
    name = record._meta.verbose_name
    if due == NextStepDue.NONE:
        return _("No next step for this %(model)s: set one so it is not forgotten.") % {
            "model": name
        }
    if due == NextStepDue.OVERDUE:
        return _(
            "The next step of this %(model)s is overdue (due %(due)s): move its date, or set "
            "the step that comes next."
        ) % {"model": name, "due": due_text(record.next_step_due, today)}
    return None


class NextStepAdminMixin:
    """For the deal and contact admins: after a save that logged a note (the notes inline),
    a warning when the record is left without a next step or with an overdue one."""

    def takes_next_step(self, obj) -> bool:
        """Whether `obj` may have a next step (a won or lost deal may not)."""
        return True

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if any(fs.model in NOTE_MODELS and fs.new_objects for fs in formsets):
            # Said after Django's own "changed successfully" (response_add/response_change).
            request.crm_next_step_reminder = reminder(
                form.instance, is_open=self.takes_next_step(form.instance)
            )

    def _remind(self, request) -> None:
        text = getattr(request, "crm_next_step_reminder", None)
        if text:
            self.message_user(request, text, messages.WARNING)

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        self._remind(request)
        return response

    def response_change(self, request, obj):
        response = super().response_change(request, obj)
        self._remind(request)
        return response
