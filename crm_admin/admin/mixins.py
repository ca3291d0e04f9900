from django.contrib.admin.utils import model_ngettext
from django.db.models import Q
from django.utils.translation import ngettext


class ProtectedDeleteSummaryMixin:
    """Refuse deleting rows that still hold protected CRM records, with one summary line.

    Django's stock confirmation page collects and lists every protected object, which at
    100k deals in one stage means a page of 100k links. Here a single counting query per
    relation decides, and the page says how many records block the delete and what to do.
    `protected_relations` maps a relation to the advice shown: a reverse accessor ("deals"),
    or (related model, its field names) for rows pointing at the model through any of those
    fields, some without an accessor (a stage's history: `from_stage` has none).
    """

    protected_relations: dict = {}

    def _protected_rows(self, relation, objs):
        if isinstance(relation, str):
            field = self.model._meta.get_field(relation)
            related, names = field.related_model, (field.field.name,)
        else:
            related, names = relation
        condition = Q()
        for name in names:
            condition |= Q(**{f"{name}__in": objs})
        return related, related._default_manager.filter(condition)

    def get_deleted_objects(self, objs, request):
        blocking = []
        for relation, advice in self.protected_relations.items():
            related, rows = self._protected_rows(relation, objs)
            count = rows.count()
            if count:
                blocking.append(
                    ngettext(
                        "%(count)d %(name)s still belongs to the selected %(parent)s. %(advice)s",
                        "%(count)d %(name)s still belong to the selected %(parent)s. %(advice)s",
                        count,
                    )
                    % {
                        "count": count,
                        "name": model_ngettext(related, count),
                        "parent": model_ngettext(self.model, len(objs)),
                        "advice": advice,
                    }
                )
        if blocking:
            return [], {}, set(), blocking
        return super().get_deleted_objects(objs, request)
