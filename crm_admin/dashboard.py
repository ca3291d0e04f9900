"""Unfold callbacks: the sidebar and the dashboard on the admin index."""

import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse, reverse_lazy
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from crm_admin import selectors
from crm_admin.admin.deals import DealAdmin
from crm_admin.formats import format_money

# (group title, [(item title, icon, app_label, model_name), ...])
_SIDEBAR = [
    (
        _("Pipeline"),
        [
            (_("Deals"), "paid", "crm_admin", "deal"),
            (_("Pipeline stages"), "view_kanban", "crm_admin", "stage"),
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


def sidebar_navigation(request: HttpRequest) -> list[dict]:
    """The sidebar groups, showing each model only to users who may view it."""
    user = request.user
    groups = []
    for title, items in _SIDEBAR:
        visible = [
            {
                "title": item_title,
                "icon": icon,
                "link": reverse_lazy(f"admin:{app_label}_{model}_changelist"),
            }
            for item_title, icon, app_label, model in items
            if user.has_perm(f"{app_label}.view_{model}")
            or user.has_perm(f"{app_label}.change_{model}")
        ]
        if visible:
            groups.append({"title": title, "separator": True, "items": visible})
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


def dashboard_callback(request: HttpRequest, context: dict) -> dict:
    """Unfold DASHBOARD_CALLBACK: the figures, charts and lists of the admin index.

    Eight queries whatever the number of deals and contacts (see crm_admin/selectors.py).
    """
    by_stage = selectors.pipeline_value_by_stage()
    figures = selectors.pipeline_figures(by_stage=by_stage)
    forecast = selectors.forecast_by_month()
    won_lost = selectors.won_lost_by_month()
    # Admin sort parameters count the selection checkbox as column 0.
    sort_by_close = str(DealAdmin.list_display.index("expected_close_date") + 1)
    primary, danger = "var(--color-primary-600)", "#f87171"
    context.update(
        {
            "currency": settings.CRM_CURRENCY,
            "kpis": [
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
                    "href": _list_url("deal", status="won"),
                },
                {
                    "title": _("Win rate, last 90 days"),
                    "value": "-" if figures.win_rate is None else f"{figures.win_rate:.0%}",
                    "detail": _("of %(count)d closed deals") % {"count": figures.closed_in_window},
                },
                {
                    "title": _("Follow-ups due"),
                    "value": f"{figures.follow_ups_due:,}",
                    "detail": _("not contacted for 30 days"),
                    "href": _list_url("contact", last_contacted="30d"),
                },
            ],
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
            "follow_ups": selectors.follow_ups_due(),
            "follow_ups_url": _list_url("contact", last_contacted="30d"),
        }
    )
    return context
