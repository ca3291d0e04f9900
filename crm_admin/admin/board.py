"""The pipeline board: deals as cards in one column per stage, moved by drag and drop.

It reads the deal list's own filters and search (the same ChangeList), so "mine", owner and
tags narrow the board exactly as they narrow the list. Moving a card goes through
services.deals_move_to_stage, like the bulk actions, so the won/lost rules hold (a closing
clears the next step). Each card shows its next step, marked when overdue or missing
(next_steps.card_mark), and a mark when the deal is stale, from the fields the cards query
already read. A move into a lost column asks why (a dialog; the card's form without
JavaScript has the choice too): the service refuses it without a reason while reasons are
required.
"""

import functools

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm_admin import cells, selectors, services
from crm_admin.admin.lost_reasons import LostReasonField
from crm_admin.admin.next_steps import card_mark
from crm_admin.deal_history import LostReason, lost_reason_required
from crm_admin.formats import format_money
from crm_admin.models import Deal, Stage


class MoveDealForm(forms.Form):
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.all(),
        error_messages={
            "required": _("Choose the stage to move the deal to."),
            "invalid_choice": _("That stage does not exist (any more). Reload the board."),
        },
    )
    lost_reason = LostReasonField(
        error_messages={
            "invalid_choice": _("That lost reason does not exist (any more). Reload the board."),
        },
    )


def stale_mark(deal, *, now) -> SafeString:
    """A card's mark when its deal is stale ("Stale · 12 days", a label: colour and words);
    empty otherwise. In memory: the deal's stage is loaded."""
    if not deal.is_stale(now=now):
        return SafeString("")
    days = deal.days_in_stage(now=now)
    return cells.label(
        ngettext("Stale · %(days)d day", "Stale · %(days)d days", days) % {"days": days},
        "warning",
    )


def lost_reason_mark(deal) -> SafeString:
    """A lost card's reason ("Lost: Price"); empty for other cards and unexplained losses."""
    if deal.lost_reason_id is None:
        return SafeString("")
    return format_html("{} {}", _("Lost:"), deal.lost_reason.name)


@functools.cache
def _without_results(changelist: type[ChangeList]) -> type[ChangeList]:
    """`changelist` without get_results(): the queryset, its filters and search are built as
    for the list page; the page of rows and the list's counts are not."""
    return type(f"{changelist.__name__}WithoutResults", (changelist,), {"get_results": _skip})


def _skip(changelist, request) -> None:
    return None


class PipelineBoardMixin:
    board_template = "admin/crm_admin/deal/board.html"
    cards_per_stage = 50

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        # Before the ModelAdmin's own URLs, whose "<object_id>/" would swallow "board/".
        return [
            path("board/", self.admin_site.admin_view(self.board_view), name=f"{name}_board"),
            path(
                "<path:object_id>/move/",
                self.admin_site.admin_view(self.move_view),
                name=f"{name}_move",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["board_url"] = self._board_url(request)
        return super().changelist_view(request, extra_context)

    def _board_url(self, request) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_board")
        query = request.GET.urlencode()
        return f"{url}?{query}" if query else url

    def _filtered_deals(self, request):
        """The deal list's queryset for this request's filters and search: the list's own
        ChangeList class (so its filters and their validation are the list's), without the
        page and the two COUNT(*) of the list, which neither the board nor a move shows.
        Built like ModelAdmin.get_changelist_instance() (and django-import-export's export
        queryset), minus the action checkbox column that only the rows would show."""
        list_display = self.get_list_display(request)
        changelist = _without_results(self.get_changelist(request))
        return changelist(
            request,
            self.model,
            list_display,
            self.get_list_display_links(request, list_display),
            self.get_list_filter(request),
            self.date_hierarchy,
            self.get_search_fields(request),
            self.get_list_select_related(request),
            self.list_per_page,
            self.list_max_show_all,
            self.list_editable,
            self,
            self.get_sortable_by(request),
            self.search_help_text,
        ).queryset

    def board_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            deals = self._filtered_deals(request)
        except IncorrectLookupParameters:
            self.message_user(request, _("Those filters are not valid."), messages.ERROR)
            return HttpResponseRedirect(request.path)
        columns = selectors.pipeline_board(deals, cards_per_stage=self.cards_per_stage)
        list_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        query = request.GET.copy()
        today, now = timezone.localdate(), timezone.now()
        for column in columns:
            query["stage__id__exact"] = str(column.stage.pk)
            column.list_url = f"{list_url}?{query.urlencode()}"
            # From the fields the cards query read: no query per card.
            is_open = not column.stage.is_closed
            for deal in column.cards:
                deal.next_step_mark = card_mark(deal, is_open=is_open, today=today)
                deal.stale_mark = stale_mark(deal, now=now)
                deal.lost_reason_mark = lost_reason_mark(deal)
        can_move = self.has_change_permission(request)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pipeline board"),
            "opts": self.opts,
            "columns": columns,
            "stages": [column.stage for column in columns],
            "list_url": f"{list_url}?{request.GET.urlencode()}" if request.GET else list_url,
            "query": request.GET.urlencode(),
            "filtered": bool(request.GET),
            "can_move": can_move,
            # The choices of the lost column's dialog and of each card's form.
            "lost_reasons": list(LostReason.objects.all()) if can_move else [],
            "lost_reason_required": lost_reason_required(),
        }
        return TemplateResponse(request, self.board_template, context)

    def move_view(self, request, object_id):
        """POST `stage` (and `lost_reason`, for a lost stage) to move one deal; JSON for the
        board's script, a redirect for a form. A refusal (a bad stage or reason, no reason
        for a lost stage while required, broken filters) moves nothing: a 400 with `error`
        for the script, a message for the form."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        deal = self.get_object(request, unquote(object_id))
        if deal is None:
            raise Http404(_("No deal with that id."))
        if not self.has_change_permission(request, deal):
            raise PermissionDenied
        wants_json = "application/json" in request.headers.get("Accept", "")
        board_url = self._board_url(request)
        form = MoveDealForm(request.POST)
        errors = [] if form.is_valid() else [e for field in form.errors.values() for e in field]
        try:
            # The board's filters come along for its totals; check them before moving anything.
            filtered = self._filtered_deals(request)
        except IncorrectLookupParameters:
            errors.append(_("Those filters are not valid. Reload the board."))
            board_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_board")
        if not errors:
            stage, reason = form.cleaned_data["stage"], form.cleaned_data["lost_reason"]
            try:
                services.deals_move_to_stage(
                    deals=Deal.objects.filter(pk=deal.pk),
                    stage=stage,
                    actor=request.user,
                    lost_reason=reason,
                )
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            error = " ".join(errors)
            if wants_json:
                return JsonResponse({"error": error}, status=400)
            self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(board_url)
        # What the UPDATE just wrote, by the same rule in memory, without reading it back (a
        # deal already in the stage was left as it was).
        if deal.stage_id != stage.pk:
            deal.stage, deal.lost_reason = stage, reason
        deal.apply_stage_outcome()
        values = {"deal": deal.title, "stage": stage, "reason": deal.lost_reason}
        if deal.lost_reason is None:
            message = _("“%(deal)s” moved to %(stage)s.") % values
        else:
            message = _("“%(deal)s” moved to %(stage)s: %(reason)s.") % values
        if not wants_json:
            self.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(board_url)
        totals = selectors.board_totals(filtered)
        empty = (0, selectors.money(0), selectors.money(0))
        return JsonResponse(
            {
                "message": message,
                "deal": {
                    "id": deal.pk,
                    "stage": stage.pk,
                    "probability": deal.probability,
                    # The card's next step after the move (a closing clears it), as HTML.
                    "next_step": card_mark(
                        deal, is_open=not stage.is_closed, today=timezone.localdate()
                    ),
                    # It has just entered the stage: never stale; its reason when lost.
                    "stale": stale_mark(deal, now=timezone.now()),
                    "lost_reason": lost_reason_mark(deal),
                },
                "columns": {
                    str(stage_id): {
                        "count": count,
                        "value": format_money(value),
                        "weighted": format_money(weighted_value),
                    }
                    for stage_id, (count, value, weighted_value) in (
                        (pk, totals.get(pk, empty))
                        for pk in Stage.objects.values_list("pk", flat=True)
                    )
                },
            }
        )
