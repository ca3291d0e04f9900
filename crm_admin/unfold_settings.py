"""The CRM's UNFOLD setting: its dashboard, sidebar, saved-filter tabs and styles.

A host project sets `UNFOLD = crm_unfold_settings()` in its settings, with keyword arguments
for what it wants otherwise: `crm_unfold_settings(SITE_TITLE="Acme", SIDEBAR={"show_search":
False})`. Imported by settings modules, so it imports nothing that needs Django set up.
Callbacks are dotted paths, which Unfold imports when it first calls them.
"""

from django.utils.translation import gettext_lazy as _

DASHBOARD_CALLBACK = "crm_admin.dashboard.dashboard_callback"
SIDEBAR_NAVIGATION = "crm_admin.dashboard.sidebar_navigation"
TABS = "crm_admin.admin.saved_filters.saved_filter_tabs"
# The compact classes of the CRM's lists (crm_admin/cells.py), and the page shown to a
# browser without JavaScript (crm_admin/styles.py).
STYLES = ["crm_admin.cells.stylesheet", "crm_admin.styles.no_script"]


def crm_unfold_defaults() -> dict:
    """A new copy of the CRM's UNFOLD values (Unfold fills in every key left out)."""
    return {
        "SITE_TITLE": _("CRM"),
        "SITE_HEADER": _("CRM"),
        "SITE_SUBHEADER": _("Companies, contacts and deals"),
        "SITE_SYMBOL": "handshake",
        "SHOW_VIEW_ON_SITE": False,
        "SIDEBAR": {
            "show_search": True,
            "show_all_applications": False,
            # The CRM's lists, then the host's other applications (dashboard.py).
            "navigation": SIDEBAR_NAVIGATION,
        },
        "TABS": TABS,
        "DASHBOARD_CALLBACK": DASHBOARD_CALLBACK,
        "STYLES": list(STYLES),
    }


def crm_unfold_settings(**overrides) -> dict:
    """The CRM's UNFOLD values with the host's `overrides`: a dict value (SIDEBAR, COLORS...)
    is merged key by key into the CRM's, any other value replaces it. To add a stylesheet,
    keep the CRM's: `STYLES=[*crm_admin.unfold_settings.STYLES, "..."]`."""
    return _merged(crm_unfold_defaults(), overrides)


def _merged(base: dict, extra: dict) -> dict:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result
