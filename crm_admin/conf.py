"""Every setting the CRM reads, with its default: a host project that sets none gets these.

Each is named CRM_... in the host's settings. The app reads them only through `crm_settings`
(`crm_settings.CRM_CURRENCY`), which reads Django's settings on every access, so
`override_settings` and pytest-django's `settings` fixture apply at once. A value that breaks
its rule is reported by the system check crm_admin.E001 (crm_admin/checks.py) at `migrate`,
`check` and `runserver`, and refused with ImproperlyConfigured where it is read, so that a
server started without the check does not run on it.
"""

import re
from collections.abc import Callable

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    # Lists count rows exactly up to this many; past it, on PostgreSQL, they estimate.
    "CRM_EXACT_COUNT_LIMIT": 10_000,
    # The currency code shown with amounts on the dashboard and the board.
    "CRM_CURRENCY": "USD",
    # A contact without a next step not contacted for this many days is due a follow-up.
    "CRM_FOLLOW_UP_DAYS": 30,
    # Marking deals lost in the admin asks why; off, the reason is optional.
    "CRM_REQUIRE_LOST_REASON": True,
    # "all": every staff user who may view deals sees every deal; "own": their own only,
    # unless they have crm_admin.view_all_deals.
    "CRM_DEAL_VISIBILITY": "all",
    # How long the dashboard keeps its pipeline-history figures in the cache (0: never).
    "CRM_HISTORY_CACHE_SECONDS": 300,
    # The largest file the admin's import form accepts, in MB.
    "CRM_IMPORT_MAX_UPLOAD_MB": 20,
    # The most rows after the header, and columns, an import file may have.
    "CRM_IMPORT_MAX_ROWS": 1_000_000,
    "CRM_IMPORT_MAX_COLUMNS": 50,
    # Requests per API token user: "<n>/<second|minute|hour|day>".
    "CRM_API_THROTTLE_RATE": "1000/hour",
    # The region whose numbering plan reads a phone number written without a country code.
    "CRM_PHONE_REGION": "US",
}

_RATE = re.compile(r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)")


def _whole_number(minimum: int) -> Callable[[object], str | None]:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f"a whole number, at least {minimum}"
        return None

    return check


def _positive_number(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return "a number above 0"
    return None


def _boolean(value) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _currency(value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "a currency code such as USD"
    return None


def _visibility(value) -> str | None:
    return None if value in ("all", "own") else '"all" or "own"'


def _rate(value) -> str | None:
    if not isinstance(value, str) or not _RATE.fullmatch(value):
        return "requests per period, e.g. 1000/hour"
    return None


def _region(value) -> str | None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        return 'a region code phonenumbers knows, such as "US" or "GB"'
    return None


RULES: dict[str, Callable[[object], str | None]] = {
    "CRM_EXACT_COUNT_LIMIT": _whole_number(1),
    "CRM_CURRENCY": _currency,
    "CRM_FOLLOW_UP_DAYS": _whole_number(1),
    "CRM_REQUIRE_LOST_REASON": _boolean,
    "CRM_DEAL_VISIBILITY": _visibility,
    "CRM_HISTORY_CACHE_SECONDS": _whole_number(0),
    "CRM_IMPORT_MAX_UPLOAD_MB": _positive_number,
    "CRM_IMPORT_MAX_ROWS": _whole_number(1),
    "CRM_IMPORT_MAX_COLUMNS": _whole_number(1),
    "CRM_API_THROTTLE_RATE": _rate,
    "CRM_PHONE_REGION": _region,
}


def setting_problem(name: str) -> str | None:
    """What is wrong with the host's value of the CRM setting `name`, or None when it is
    valid or unset (the default is)."""
    if not hasattr(settings, name):
        return None
    value = getattr(settings, name)
    expected = RULES[name](value)
    return f"{name}={value!r}: expected {expected}." if expected else None


class CRMSettings:
    """The CRM's settings, read from Django's settings with the defaults above."""

    def __getattr__(self, name: str):
        if name not in DEFAULTS:
            raise AttributeError(f"{name} is not a CRM setting (crm_admin/conf.py).")
        problem = setting_problem(name)
        if problem:
            raise ImproperlyConfigured(problem)
        return getattr(settings, name, DEFAULTS[name])


crm_settings = CRMSettings()
