"""Template filters for the CRM's own templates: money goes through crm_admin.formats."""

from django import template

from crm_admin.formats import format_money

register = template.Library()


@register.filter
def money(value):
    """`{{ deal.amount|money }}`: "USD 12,500.00", or "-" without an amount."""
    return format_money(value)


@register.filter
def money_amount(value):
    """`{{ deal.amount|money_amount }}`: "12,500.00" without the currency, or "-"."""
    return format_money(value, currency=False)
