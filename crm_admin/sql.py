"""Raw statements built around a QuerySet's own SQL (INSERT ... SELECT, a count of locked rows)."""

from django.db.models import QuerySet


def select_sql(queryset: QuerySet) -> tuple[str, tuple]:
    """`queryset`'s SQL and parameters, for a raw statement that reads it. A selection that
    matches nothing by construction (`pk__in=[]`: a stale filter no stage makes stale) is one
    Django answers without SQL; here it compiles to a WHERE that is false (`0 = 1`)."""
    return queryset.query.get_compiler(queryset.db, elide_empty=False).as_sql()
