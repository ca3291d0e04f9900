import re

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

from crm_admin.counting import EstimatingPaginator

_WHOLE_NUMBER = re.compile(r"[0-9]+")


class CRMPagination(PageNumberPagination):
    """`?page=` and `?page_size=` (default 50, at most 200; larger sizes are capped).

    Unlike DRF, which silently falls back to the default size and answers 404 for `page=abc`,
    a value that is not a positive whole number is a client error: 400 naming the parameter.
    A page past the end stays a 404.

    `count` comes from crm_admin.counting, like the admin lists': exact up to
    CRM_EXACT_COUNT_LIMIT (10,000) rows; past it, on PostgreSQL, an estimate, so that a page of
    a million-row list does not count every row. Bulk readers follow `next` until it is null.
    """

    django_paginator_class = EstimatingPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        errors = {}
        for name in (self.page_query_param, self.page_size_query_param):
            value = request.query_params.get(name)
            if value is None or (name == self.page_query_param and value in self.last_page_strings):
                continue
            # Zero is the only whole number below 1; int() would refuse 4,300 digits or more.
            if not _WHOLE_NUMBER.fullmatch(value) or not value.strip("0"):
                errors[name] = [_("A positive whole number is required.")]
        if errors:
            raise ValidationError(errors)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        # DRF documents both as bare integers; the bounds above are part of the contract.
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": str(_("A page number, from 1; a page past the end is a 404.")),
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": str(
                    _("Rows per page, from 1 (default %(default)d; larger sizes give %(max)d).")
                    % {"default": self.page_size, "max": self.max_page_size}
                ),
                "schema": {"type": "integer", "minimum": 1},
            },
        ]
