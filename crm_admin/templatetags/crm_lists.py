"""Template filters for the CRM's change list rows (admin/crm_admin/change_list_results.html)."""

from django import template

from crm_admin.cells import compact_row

register = template.Library()


@register.filter
def compact_cells(cells):
    """`{{ result|compact_cells }}`: a row's cells from Unfold's items_for_result, joined, each
    with its utility class list as one compact class (crm_admin/cells.py)."""
    return compact_row(cells)
