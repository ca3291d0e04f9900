"""Bulk actions on the deal and contact lists. Each one translates the request and calls a service.

Actions that need a choice (a stage, an owner, tags, a status) first show an intermediate page
that keeps the selection (the checked rows, or "select all" across pages with the list's
filters, which stay in the URL) and posts back to the list with `apply`.
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.widgets import (
    UnfoldAdminSelect2MultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
    UnfoldAdminTextInputWidget,
)

from crm_admin import selectors, services
from crm_admin.admin.lost_reasons import AsksLostReasonMixin, LostReasonField, field_errors
from crm_admin.admin.next_steps import due_text
from crm_admin.models import Contact, Deal, Stage, Tag


class StageChoiceForm(forms.Form):
    stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.all(), widget=UnfoldAdminSelectWidget
    )
    lost_reason = LostReasonField(
        help_text=_("Why the deals were lost, when the stage is a lost one."),
    )


class LostReasonForm(AsksLostReasonMixin, forms.Form):
    lost_reason = LostReasonField(help_text=_("Why the deals were lost."))


class OwnerChoiceForm(forms.Form):
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=selectors.active_staff(),
        required=False,
        empty_label=_("Nobody (unassign)"),
        widget=UnfoldAdminSelectWidget,
    )


class TagsChoiceForm(forms.Form):
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"), queryset=Tag.objects.all(), widget=UnfoldAdminSelect2MultipleWidget
    )


class StatusChoiceForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), choices=Contact.Status.choices, widget=UnfoldAdminSelectWidget
    )


class NextStepForm(forms.Form):
    text = forms.CharField(
        label=_("Next step"),
        max_length=Deal._meta.get_field("next_step").max_length,
        required=False,
        help_text=_("Leave it empty to clear the next step."),
        widget=UnfoldAdminTextInputWidget,
    )
    due = forms.DateField(label=_("Due"), required=False, widget=UnfoldAdminSingleDateWidget)


def _report(model_admin, request, count: int, template: str, **values) -> None:
    noun = (
        model_admin.model._meta.verbose_name
        if count == 1
        else (model_admin.model._meta.verbose_name_plural)
    )
    model_admin.message_user(
        request, template % {"count": count, "noun": noun, **values}, messages.SUCCESS
    )


def ask_then_apply(
    model_admin,
    request,
    queryset: QuerySet,
    *,
    form_class: type[forms.Form],
    title: str,
    apply: Callable[[forms.Form], None],
):
    """Show `form_class` on an intermediate page; when it comes back valid, run `apply(form)`.

    A ValidationError from the service changes nothing: one about the form's fields (a lost
    reason missing) shows on them and the page asks again; any other is an error message.
    Returning None sends the user back to the list (with its filters) and its messages.
    """
    form = form_class(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            apply(form)
        except ValidationError as error:
            if not field_errors(error, form):
                model_admin.message_user(request, " ".join(error.messages), messages.ERROR)
                return None
            form.add_error(None, error)
        else:
            return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "count": queryset.count(),
        "action": request.POST["action"],
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/crm_admin/bulk_action.html", context)


def run_service(model_admin, request, service: Callable[[], int], message: str, **values):
    """Run a no-question action's service and report it; a refusal becomes an error message."""
    try:
        count = service()
    except ValidationError as error:
        model_admin.message_user(request, " ".join(error.messages), messages.ERROR)
        return
    _report(model_admin, request, count, message, **values)


class ActionPermissionMixin:
    """Refuse, with a message, a list action the user is not allowed to run.

    Django silently leaves out actions the user lacks permission for, and a forged POST of one
    then re-renders the list or says "No action selected."; this says plainly why nothing
    changed.
    """

    def changelist_view(self, request, extra_context=None):
        name = request.POST.get("action") if request.method == "POST" else None
        if name:
            known = {action_name for _func, action_name, _desc in self._get_base_actions()}
            if name in known and name not in self.get_actions(request):
                self.message_user(
                    request,
                    _("You do not have permission to do that: nothing was changed."),
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)


# --- deals ---------------------------------------------------------------------------------


@admin.action(description=_("Mark as won"), permissions=["change"])
def mark_won(model_admin, request, queryset):
    run_service(
        model_admin,
        request,
        lambda: services.deals_mark_won(deals=queryset, actor=request.user),
        _("%(count)d %(noun)s marked as won."),
    )


@admin.action(description=_("Mark as lost…"), permissions=["change"])
def mark_lost(model_admin, request, queryset):
    def apply(form):
        reason = form.cleaned_data["lost_reason"]
        count = services.deals_mark_lost(deals=queryset, actor=request.user, lost_reason=reason)
        if reason is None:
            message = _("%(count)d %(noun)s marked as lost.")
        else:
            message = _("%(count)d %(noun)s marked as lost: %(reason)s.")
        _report(model_admin, request, count, message, reason=reason)

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=LostReasonForm,
        title=_("Mark deals as lost"),
        apply=apply,
    )


@admin.action(description=_("Move to stage…"), permissions=["change"])
def move_to_stage(model_admin, request, queryset):
    def apply(form):
        stage, reason = form.cleaned_data["stage"], form.cleaned_data["lost_reason"]
        count = services.deals_move_to_stage(
            deals=queryset, stage=stage, actor=request.user, lost_reason=reason
        )
        if reason is not None and stage.outcome == Stage.Outcome.LOST:
            message = _("%(count)d %(noun)s moved to %(stage)s: %(reason)s.")
        else:
            message = _("%(count)d %(noun)s moved to %(stage)s.")
        _report(model_admin, request, count, message, stage=stage, reason=reason)

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=StageChoiceForm,
        title=_("Move deals to a stage"),
        apply=apply,
    )


@admin.action(description=_("Assign owner…"), permissions=["change"])
def assign_owner(model_admin, request, queryset):
    def apply(form):
        owner = form.cleaned_data["owner"]
        count = services.deals_assign_owner(deals=queryset, owner=owner, actor=request.user)
        name = owner.get_username() if owner else _("nobody")
        _report(
            model_admin, request, count, _("%(count)d %(noun)s assigned to %(owner)s."), owner=name
        )

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=OwnerChoiceForm,
        title=_("Assign an owner"),
        apply=apply,
    )


# --- deals and contacts ------------------------------------------------------------------


def _tag_names(tags) -> str:
    return ", ".join(tag.name for tag in tags)


@admin.action(description=_("Add tags…"), permissions=["change"])
def add_tags(model_admin, request, queryset):
    def apply(form):
        tags = form.cleaned_data["tags"]
        count = queryset.count()
        services.tags_add(rows=queryset, tags=tags, actor=request.user)
        _report(
            model_admin,
            request,
            count,
            _("Tagged %(count)d %(noun)s with %(tags)s."),
            tags=_tag_names(tags),
        )

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=TagsChoiceForm,
        title=_("Add tags"),
        apply=apply,
    )


@admin.action(description=_("Remove tags…"), permissions=["change"])
def remove_tags(model_admin, request, queryset):
    def apply(form):
        tags = form.cleaned_data["tags"]
        removed = services.tags_remove(rows=queryset, tags=tags, actor=request.user)
        model_admin.message_user(
            request,
            ngettext(
                "Removed %(tags)s: %(count)d tag link removed.",
                "Removed %(tags)s: %(count)d tag links removed.",
                removed,
            )
            % {"tags": _tag_names(tags), "count": removed},
            messages.SUCCESS,
        )

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=TagsChoiceForm,
        title=_("Remove tags"),
        apply=apply,
    )


@admin.action(description=_("Set next step…"), permissions=["change"])
def set_next_step(model_admin, request, queryset):
    def apply(form):
        text, due = form.cleaned_data["text"].strip(), form.cleaned_data["due"]
        count = services.next_steps_set(rows=queryset, text=text, due=due, actor=request.user)
        if not text:
            _report(model_admin, request, count, _("Next step cleared on %(count)d %(noun)s."))
        else:
            when = _(" (due %s)") % due_text(due, timezone.localdate()) if due else ""
            _report(
                model_admin,
                request,
                count,
                _("Next step “%(text)s”%(when)s set on %(count)d %(noun)s."),
                text=text,
                when=when,
            )
        if queryset.model is Deal:
            closed = queryset.exclude(stage__outcome=Stage.Outcome.OPEN).count()
            if closed:
                model_admin.message_user(
                    request,
                    ngettext(
                        "%(count)d closed deal was left out: a won or lost deal has no next step.",
                        "%(count)d closed deals were left out: a won or lost deal has no next "
                        "step.",
                        closed,
                    )
                    % {"count": closed},
                    messages.WARNING,
                )

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=NextStepForm,
        title=_("Set the next step"),
        apply=apply,
    )


# --- contacts ------------------------------------------------------------------------------


@admin.action(description=_("Set status…"), permissions=["change"])
def set_status(model_admin, request, queryset):
    def apply(form):
        status = form.cleaned_data["status"]
        count = services.contacts_set_status(contacts=queryset, status=status, actor=request.user)
        _report(
            model_admin,
            request,
            count,
            _("%(count)d %(noun)s set to %(status)s."),
            status=Contact.Status(status).label,
        )

    return ask_then_apply(
        model_admin,
        request,
        queryset,
        form_class=StatusChoiceForm,
        title=_("Set contact status"),
        apply=apply,
    )
