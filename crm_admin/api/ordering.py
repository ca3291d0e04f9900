from django.core.exceptions import FieldDoesNotExist
from django.db.models import F
from rest_framework.filters import OrderingFilter


class StableOrderingFilter(OrderingFilter):
    """DRF's `?ordering=`, made to give one answer on every database and every page.

    The primary key is added as the last key, so rows with equal values keep one order and
    paging neither repeats nor skips them. Empty values (NULL) come last in both directions:
    PostgreSQL would put them first when descending and SQLite first when ascending, so that
    `-amount` opened with the deals without an amount on one of them. Unknown fields are
    ignored (DRF's behaviour); without `ordering` the model's default order applies.
    """

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering = [*ordering, "pk"]
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        return queryset.order_by(*empty_values_last(queryset.model, ordering))

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = ", ".join(f"`{name}`" for name in view.ordering_fields)
        parameters[0]["description"] = (
            f"Sort by {fields}; a leading `-` sorts descending, commas separate several keys. "
            "Empty values come last either way."
        )
        return parameters


def empty_values_last(model, ordering: list[str]) -> list:
    """`ordering` (field names, `-` for descending) with NULLs last in either direction.

    Columns that cannot be NULL keep their plain name: NULLS LAST on them would still cost
    PostgreSQL its index for a descending sort.
    """
    terms = []
    for term in ordering:
        name = term.removeprefix("-")
        if not _may_be_null(model, name):
            terms.append(term)
        elif term.startswith("-"):
            terms.append(F(name).desc(nulls_last=True))
        else:
            terms.append(F(name).asc(nulls_last=True))
    return terms


def _may_be_null(model, path: str) -> bool:
    """Whether `path` (a field, possibly across relations) can be NULL in a row of `model`.
    Names that are not fields (annotations) count as never NULL."""
    for name in path.split("__"):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        if field.null:
            return True
        model = field.related_model
        if model is None:
            return False
    return False
