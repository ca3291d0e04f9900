"""The pipeline board: deals as cards in one column per stage, moved by drag and drop.

It reads the deal list's own filters and search (the same ChangeList), so "mine", owner and
tags narrow the board exactly as they narrow the list. Moving a card goes through
services.deals_move_to_stage, like the bulk actions, so the won/lost rules hold (a closing
clears the next step). Each card shows its next step, marked when overdue or missing
(next_steps.card_mark), from the fields the cards query already read.
"""

import functools

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_admin import selectors, services
from crm_admin.admin.next_steps import card_mark
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
        today = timezone.localdate()
        for column in columns:
            query["stage__id__exact"] = str(column.stage.pk)
            column.list_url = f"{list_url}?{query.urlencode()}"
            # From the fields the cards query read: no query per card.
            is_open = not column.stage.is_closed
            for deal in column.cards:
                deal.next_step_mark = card_mark(deal, is_open=is_open, today=today)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Pipeline board"),
            "opts": self.opts,
            "columns": columns,
            "stages": [column.stage for column in columns],
            "list_url": f"{list_url}?{request.GET.urlencode()}" if request.GET else list_url,
            "query": request.GET.urlencode(),
            "filtered": bool(request.GET),
            "can_move": self.has_change_permission(request),
        }
        return TemplateResponse(request, self.board_template, context)

    def move_view(self, request, object_id):
        """POST `stage` to move one deal; JSON for the board's script, a redirect for a form."""
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
        errors = [] if form.is_valid() else list(form.errors["stage"])
        try:
            # The board's filters come along for its totals; check them before moving anything.
            filtered = self._filtered_deals(request)
        except IncorrectLookupParameters:
            errors.append(_("Those filters are not valid. Reload the board."))
            board_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_board")
        if errors:
            error = " ".join(errors)
            if wants_json:
                return JsonResponse({"error": error}, status=400)
            self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(board_url)
        stage = form.cleaned_data["stage"]
        services.deals_move_to_stage(
            deals=Deal.objects.filter(pk=deal.pk), stage=stage, actor=request.user
        )
        # What the UPDATE just wrote, by the same rule in memory, without reading it back.
        deal.stage = stage
        deal.apply_stage_outcome()
        message = _("“%(deal)s” moved to %(stage)s.") % {"deal": deal.title, "stage": stage}
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
