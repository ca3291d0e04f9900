from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.conf import crm_settings


def format_money(value: Decimal | None, *, currency: bool = True) -> str:
    """An amount with thousands separators and the configured currency, e.g. "USD 12,500.00"
    ("12,500.00" with `currency=False`, where a column header already names it); "-" for
    None, a deal without an amount. Every screen shows money through this function."""
    if value is None:
        return "-"
    text = f"{value:,.2f}"
    return f"{crm_settings.CRM_CURRENCY} {text}" if currency else text


# The largest id a 64-bit primary key holds; longer digit strings would overflow the database.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """`text` as a record id (ASCII digits that fit a 64-bit key), or None if it is not one."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    # Counted before int(), which refuses more than 4,300 digits with a ValueError.
    if len(text.lstrip("0")) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


# What a form or a filter says of a moment is_storable_moment() refuses.
UNSTORABLE_MOMENT = _("Enter a date and time between the years 1 and 9999.")


def is_storable_moment(value: datetime) -> bool:
    """Whether the database can store `value` (naive means in TIME_ZONE): it must stay within
    the years 1 to 9999 once in UTC, which 9999-12-31 23:59 in New York does not."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True
