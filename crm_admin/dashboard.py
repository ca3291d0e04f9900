"""Unfold callbacks: the sidebar and the dashboard on the admin index."""

import json
from datetime import date, datetime
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from crm_admin import pipeline_history, selectors
from crm_admin.conf import crm_settings
from crm_admin.counting import ApproximateCount
from crm_admin.formats import format_money
from crm_admin.models import Contact, Deal, NextStepDue, Stage, sees_all_deals

# (group title, [(item title, icon, app_label, model_name), ...])
_SIDEBAR = [
    (
        _("Pipeline"),
        [
            (_("Deals"), "paid", "crm_admin", "deal"),
            (_("Pipeline stages"), "view_kanban", "crm_admin", "stage"),
            (_("Lost reasons"), "thumb_down", "crm_admin", "lostreason"),
            (_("Deal notes"), "sticky_note_2", "crm_admin", "dealnote"),
        ],
    ),
    (
        _("People"),
        [
            (_("Contacts"), "contacts", "crm_admin", "contact"),
            (_("Companies"), "apartment", "crm_admin", "company"),
            (_("Contact notes"), "edit_note", "crm_admin", "contactnote"),
            (_("Tags"), "sell", "crm_admin", "tag"),
        ],
    ),
    (
        _("Administration"),
        [
            (_("Users"), "person", "auth", "user"),
            (_("Groups"), "group", "auth", "group"),
            (_("Saved filters"), "bookmarks", "crm_admin", "savedfilter"),
            (_("API tokens"), "key", "authtoken", "tokenproxy"),
        ],
    ),
]

# The models the groups above list; the sidebar adds any other registered one.
_SIDEBAR_MODELS = {
    (app_label, model) for _title, items in _SIDEBAR for *_, app_label, model in items
}


def may_open_list(request: HttpRequest, model) -> bool:
    """Whether the user may open `model`'s list: what Django's own index asks the ModelAdmin
    before linking it (its module, then view or change), which the list itself checks too.
    The dashboard shows the figures that read `model` on the same condition."""
    model_admin = admin.site.get_model_admin(model)
    if not model_admin.has_module_permission(request):
        return False
    return model_admin.has_view_or_change_permission(request)


def sidebar_navigation(request: HttpRequest) -> list[dict]:
    """The sidebar groups, showing each model only to users its ModelAdmin lets open the list:
    the CRM's, then one group per other application registered in the admin (a host
    project's own), as Django's index lists them."""
    groups = []
    for title, items in _SIDEBAR:
        visible = [
            {
                "title": item_title,
                "icon": icon,
                "link": reverse_lazy(f"admin:{app_label}_{model}_changelist"),
            }
            for item_title, icon, app_label, model in items
            if may_open_list(request, apps.get_model(app_label, model))
        ]
        if visible:
            groups.append({"title": title, "separator": True, "items": visible})
    for app in admin.site.get_app_list(request):
        others = [
            {"title": model["name"], "link": model["admin_url"]}
            for model in app["models"]
            if model["admin_url"]
            and (app["app_label"], model["model"]._meta.model_name) not in _SIDEBAR_MODELS
        ]
        if others:
            groups.append({"title": app["name"], "separator": True, "items": others})
    return groups


def _list_url(model: str, **params) -> str:
    url = reverse(f"admin:crm_admin_{model}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def _chart(labels: list[str], datasets: list[tuple[str, list, str]]) -> str:
    return json.dumps(
        {
            "labels": labels,
            "datasets": [
                {
                    "label": label,
                    "data": [float(v) for v in values],
                    "backgroundColor": colour,
                    # Chart.js per-dataset options: Unfold's defaults draw 4px overlapping bars.
                    "grouped": True,
                    "maxBarThickness": 28,
                    "displayYAxis": True,
                }
                for label, values, colour in datasets
            ],
        }
    )


def _deal_parts(request: HttpRequest, now: datetime) -> tuple[list[dict], dict]:
    """The KPIs, charts and list that read deals, over the deals the user sees (deal
    visibility); five queries."""
    user = request.user
    by_stage = selectors.pipeline_value_by_stage(user=user)
    figures = selectors.pipeline_figures(user=user, now=now, by_stage=by_stage)
    forecast = selectors.forecast_by_month(user=user, today=timezone.localdate(now))
    won_lost = selectors.won_lost_by_month(user=user, today=timezone.localdate(now))
    # Admin sort parameters count the selection checkbox as column 0.
    list_display = admin.site.get_model_admin(Deal).list_display
    sort_by_close = str(list_display.index("expected_close_date") + 1)
    primary, danger = "var(--color-primary-600)", "#f87171"
    kpis = [
        {
            "title": _("Open pipeline"),
            "value": format_money(figures.open_value),
            "href": _list_url("deal", status="open"),
        },
        {
            "title": _("Weighted forecast"),
            "value": format_money(figures.weighted_forecast),
            "href": _list_url("deal", status="open"),
        },
        {
            "title": _("Won this month"),
            "value": format_money(figures.won_this_month_value),
            "detail": _("%(count)d deals") % {"count": figures.won_this_month_count},
            "href": _list_url("deal", status="won", closed="this_month"),
        },
        {
            "title": _("Win rate, last 90 days"),
            "value": "-" if figures.win_rate is None else f"{figures.win_rate:.0%}",
            "detail": _("of %(count)d closed deals") % {"count": figures.closed_in_window},
        },
    ]
    parts = {
        "stage_chart": _chart(
            [row.stage.name for row in by_stage],
            [(str(_("Pipeline value")), [row.value for row in by_stage], primary)],
        ),
        "forecast_chart": _chart(
            [date_format(month, "M Y") for month, _value in forecast],
            [(str(_("Weighted forecast")), [value for _month, value in forecast], primary)],
        ),
        "won_lost_chart": _chart(
            [date_format(month, "M Y") for month, _won, _lost in won_lost],
            [
                (str(_("Won")), [won for _month, won, _lost in won_lost], primary),
                (str(_("Lost")), [lost for _month, _won, lost in won_lost], danger),
            ],
        ),
        "closing_soon": selectors.deals_closing_soon(user=request.user),
        "closing_soon_url": _list_url("deal", owner="mine", status="open", o=sort_by_close),
    }
    return kpis, parts


# The deal list's filter showing the stale deals (crm_admin/admin/filters.py).
STALE_LIST_PARAMS = {"stale": "yes"}


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def _velocity_rows(
    velocity: list[pipeline_history.StageVelocity],
    conversion: list[pipeline_history.StageConversion],
) -> list[dict]:
    """The velocity table: every open stage, and a closed one only when deals left it (they
    were reopened); conversion is an open stage's."""
    converted = {row.stage.pk: row for row in conversion}
    rows = []
    for row in velocity:
        if row.stage.is_closed and not row.left:
            continue
        days = row.average_days
        conversion_row = converted.get(row.stage.pk)
        rows.append(
            {
                "stage": row.stage.name,
                "left": f"{row.left:,}",
                "average_days": "-" if days is None else f"{days:,.1f}",
                "conversion": "-"
                if conversion_row is None
                else _percent(conversion_row.reached, conversion_row.entered),
                "conversion_detail": ""
                if conversion_row is None or not conversion_row.entered
                else _("%(reached)s of %(entered)s")
                % {
                    "reached": f"{conversion_row.reached:,}",
                    "entered": f"{conversion_row.entered:,}",
                },
            }
        )
    return rows


HISTORY_CACHE_KEY = "crm_admin:dashboard:history-figures"


def history_cache_key(user) -> str:
    """Where the history figures `user` sees are cached: one entry for every user who sees
    every deal (sees_all_deals), one per user for those who see only theirs."""
    if sees_all_deals(user):
        return HISTORY_CACHE_KEY
    return f"{HISTORY_CACHE_KEY}:owner:{user.pk}"


def _history_reads(now: datetime, *, user) -> dict:
    """The history section's figures over the deals `user` sees, as read at `now`, or as
    read in the last CRM_HISTORY_CACHE_SECONDS (the shared cache, so every app server reuses
    them, under history_cache_key()): at a million deals they take a second of database
    time, for figures over 90 days that a few minutes do not change. `at` says when they were
    read. Five queries, none when cached."""
    seconds = crm_settings.CRM_HISTORY_CACHE_SECONDS
    key = history_cache_key(user)
    reads = cache.get(key) if seconds > 0 else None
    if reads is None:
        stages = list(Stage.objects.order_by("order", "id"))
        scope = {"now": now, "user": user}
        reads = {
            "at": now,
            "stages": stages,
            "velocity": pipeline_history.pipeline_velocity(stages=stages, **scope),
            "conversion": pipeline_history.pipeline_conversion(stages=stages, **scope),
            "lost": pipeline_history.lost_by_reason(**scope),
            "stale": pipeline_history.stale_deal_count(stages=stages, **scope),
        }
        if seconds > 0:
            cache.set(key, reads, seconds)
    return reads


def history_figures(now: datetime, *, user) -> dict:
    """The dashboard's section of stage history figures, last HISTORY_DAYS days: velocity and
    conversion by stage, deals lost by reason (a chart and its table), the stale deals (a KPI
    linking to the deal list filtered so), over the deals `user` sees. Five queries: the
    stages, then one per figure (crm_admin/pipeline_history.py); four when no stage has a
    stale limit; none while the figures read in the last CRM_HISTORY_CACHE_SECONDS are
    cached (_history_reads).

    They read the window's history and every stale deal, which grow with the data, so the
    dashboard does not run them: its section loads them on its own URL
    (crm_admin/admin/history_figures.py)."""
    reads = _history_reads(now, user=user)
    stages, velocity, conversion, lost, stale = (
        reads["stages"],
        reads["velocity"],
        reads["conversion"],
        reads["lost"],
        reads["stale"],
    )
    stale_kpi = {
        "title": _("Stale deals"),
        "value": f"{stale:,}",
        "detail": _("open deals in their stage for longer than its limit")
        if any(stage.stale_after_days and not stage.is_closed for stage in stages)
        else _("no stage has a limit yet: set one on the pipeline stages"),
        "href": _list_url("deal", **STALE_LIST_PARAMS),
    }
    return {
        "stale": stale_kpi,
        "history_days": pipeline_history.HISTORY_DAYS,
        "history_as_of": reads["at"],
        "history_cache_minutes": crm_settings.CRM_HISTORY_CACHE_SECONDS // 60,
        "velocity": _velocity_rows(velocity, conversion),
        "lost_reasons": [
            {"name": row.name, "count": f"{row.count:,}", "value": format_money(row.value)}
            for row in lost
        ],
        "lost_reason_chart": _chart(
            [row.name for row in lost],
            [(str(_("Deals lost")), [row.count for row in lost], "#f87171")],
        ),
    }


def _follow_up_parts(now: datetime) -> tuple[list[dict], dict]:
    """The follow-ups KPI and list, which read contacts; three queries."""
    # The contact list's "due" filter is contacts_due_follow_up(), which this counts: the
    # link shows the counted rows.
    url = _list_url("contact", last_contacted="due")
    kpi = {
        "title": _("Follow-ups due"),
        "value": f"{selectors.contacts_due_follow_up_count(now=now):,}",
        "detail": _("next step due, or none and not contacted for %(days)d days")
        % {"days": crm_settings.CRM_FOLLOW_UP_DAYS},
        "href": url,
    }
    return [kpi], {"follow_ups": selectors.follow_ups_due(now=now), "follow_ups_url": url}


def _next_step_list_url(kind: str, due: str) -> str:
    """The deal or contact list showing the logged-in user's records whose next step is `due`
    (a NextStepDue value): what My day counts (its deals are open ones)."""
    params = {"next_step": due, "owner": "mine"}
    if kind == "deal":
        params["status"] = "open"
    return _list_url(kind, **params)


def _count_text(count: int) -> str:
    # An ApproximateCount says "more than 10,000" itself.
    return str(count) if isinstance(count, ApproximateCount) else f"{count:,}"


_MY_DAY_KINDS = {"deal": _("My deals"), "contact": _("My contacts")}
_MY_DAY_DUES = [NextStepDue.OVERDUE, NextStepDue.TODAY, NextStepDue.THIS_WEEK]


def _my_day_row(item: selectors.NextStepItem, today: date) -> dict:
    record = item.record
    if item.kind == "deal":
        name = record.title
        context = ", ".join(
            str(part) for part in (record.contact.full_name, record.company) if part
        )
    else:
        name, context = record.full_name, str(record.company or "")
    return {
        "kind": _("Deal") if item.kind == "deal" else _("Contact"),
        "name": name,
        "context": context,
        "step": record.next_step,
        "due": item.due,
        "overdue": item.due < today,
        "href": reverse(f"admin:crm_admin_{item.kind}_change", args=[record.pk]),
    }


def _my_day_parts(request: HttpRequest, today: date, *, deals: bool, contacts: bool) -> dict:
    """My day for the logged-in user, of the kinds they may see: their next steps due by
    `today` and in the week after, and the counts linking to the lists. Three queries for
    deals, two for contacts (selectors.my_day())."""
    day = selectors.my_day(user=request.user, today=today, deals=deals, contacts=contacts)
    kinds = [kind for kind, shown in (("deal", deals), ("contact", contacts)) if shown]
    counts = [
        {
            "title": _MY_DAY_KINDS[kind],
            "cells": [
                {
                    "due": due.value,
                    "label": due.label,
                    "value": _count_text(day.counts[kind, due]),
                    "href": _next_step_list_url(kind, due),
                    "overdue": due == NextStepDue.OVERDUE and day.counts[kind, due] > 0,
                }
                for due in _MY_DAY_DUES
            ],
        }
        for kind in kinds
    ]
    parts = {
        "my_day_now": [_my_day_row(item, today) for item in day.now],
        "my_day_week": [_my_day_row(item, today) for item in day.week],
        "my_day_counts": counts,
    }
    if deals:
        parts["my_day_no_step"] = {
            "due": NextStepDue.NONE.value,
            "value": _count_text(day.counts["deal", NextStepDue.NONE]),
            "href": _next_step_list_url("deal", NextStepDue.NONE),
        }
    return parts


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    """Unfold DASHBOARD_CALLBACK: the figures, charts and lists of the admin index.

    Each part shows only to a user whose ModelAdmin lets them view what it reads (deals: the
    pipeline figures, charts, their deals and My day's deals; contacts: the follow-ups and My
    day's contacts), as Django's index decides; a hidden part runs no query. Thirteen queries
    with both (eight for deals, five for contacts), whatever the number of deals and contacts
    (see crm_admin/selectors.py); a user with neither sees a note instead. The stage history's
    figures (history_figures()) are not among them: for a deal viewer the page loads them
    afterwards from `history_url`.
    """
    now = timezone.now()
    # Where a next step's date turns overdue: the current time zone's date.
    today = timezone.localdate(now)
    show_deals = may_open_list(request, Deal)
    show_follow_ups = may_open_list(request, Contact)
    if show_deals or show_follow_ups:
        context.update(_my_day_parts(request, today, deals=show_deals, contacts=show_follow_ups))
    kpis = []
    if show_deals:
        deal_kpis, deal_parts = _deal_parts(request, now)
        kpis += deal_kpis
        context.update(deal_parts)
        context["history_url"] = reverse("admin:crm_admin_deal_history_figures")
    if show_follow_ups:
        follow_up_kpis, follow_up_parts = _follow_up_parts(now)
        kpis += follow_up_kpis
        context.update(follow_up_parts)
    context.update(
        {
            "kpis": kpis,
            "show_deals": show_deals,
            "show_follow_ups": show_follow_ups,
            "show_my_day": show_deals or show_follow_ups,
            "today": today,
        }
    )
    return context
