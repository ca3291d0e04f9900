from decimal import Decimal

from django.conf import settings


def format_money(value: Decimal) -> str:
    """An amount with thousands separators and the configured currency, e.g. "USD 12,500.00"."""
    return f"{settings.CRM_CURRENCY} {value:,.2f}"


# The largest id a 64-bit primary key holds; longer digit strings would overflow the database.
MAX_ID = 2**63 - 1


def parse_id(text: str) -> int | None:
    """`text` as a record id (ASCII digits that fit a 64-bit key), or None if it is not one."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
