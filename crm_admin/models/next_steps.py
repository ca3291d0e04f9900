"""One next step per record (a deal, a contact): its fields, when it is due, the filters."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NextStepDue(models.TextChoices):
    """When a record's next step is due, as the lists' filter and the dashboard's My day say
    it; `today` is the current time zone's date. "This week" is the seven days after today."""

    OVERDUE = "overdue", _("Overdue")
    TODAY = "today", _("Due today")
    THIS_WEEK = "week", _("Due this week")
    NONE = "none", _("No next step")


NEXT_STEP_WEEK_DAYS = 7


def next_step_due_condition(due: str, *, today=None) -> Q:
    """The records whose next step is `due` (a NextStepDue value) on `today` (default: the
    current date of the time zone). One definition for the filters, My day and the API."""
    today = today or timezone.localdate()
    return {
        NextStepDue.OVERDUE: Q(next_step_due__lt=today),
        NextStepDue.TODAY: Q(next_step_due=today),
        NextStepDue.THIS_WEEK: Q(
            next_step_due__gt=today,
            next_step_due__lte=today + timedelta(days=NEXT_STEP_WEEK_DAYS),
        ),
        NextStepDue.NONE: Q(next_step=""),
    }[NextStepDue(due)]


class NextStepQuerySet(models.QuerySet):
    def next_step_due(self, due: str, *, today=None):
        """These records whose next step is `due` (see next_step_due_condition)."""
        return self.filter(next_step_due_condition(due, today=today))


def owner_field(*, related_name: str) -> models.ForeignKey:
    """The user who owns a record (optional); the record stays when the user goes."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name=related_name,
    )


class NextStepFields(models.Model):
    """One next step per record (a deal, a contact): what happens next and by when. A date
    needs a step (a constraint on each model: next_step_constraint)."""

    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    next_step_due = models.DateField(_("next step due"), null=True, blank=True)

    class Meta:
        abstract = True

    def next_step_due_on(self, *, today=None) -> NextStepDue | None:
        """The NextStepDue this record is in on `today`, in memory: next_step_due_condition()
        for one record (for a page that shows it), None when its step is dated past the week
        or has no date. Whether a deal is open is the caller's: the record's own fields only."""
        today = today or timezone.localdate()
        due = self.next_step_due
        if due is None:
            return NextStepDue.NONE if not self.next_step else None
        if due < today:
            return NextStepDue.OVERDUE
        if due == today:
            return NextStepDue.TODAY
        if due <= today + timedelta(days=NEXT_STEP_WEEK_DAYS):
            return NextStepDue.THIS_WEEK
        return None


def next_step_constraint(model_name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(next_step_due__isnull=True) | ~Q(next_step=""),
        name=f"crm_{model_name}_next_step_due_needs_step",
        violation_error_message=_("Say what the next step is, or leave its date empty."),
    )
