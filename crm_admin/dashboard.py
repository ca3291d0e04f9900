"""Unfold callbacks: the sidebar (and, later, the dashboard and badges)."""

from django.http import HttpRequest
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

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
