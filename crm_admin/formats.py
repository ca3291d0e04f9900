from decimal import Decimal

from django.conf import settings


def format_money(value: Decimal) -> str:
    """An amount with thousands separators and the configured currency, e.g. "USD 12,500.00"."""
    return f"{settings.CRM_CURRENCY} {value:,.2f}"
