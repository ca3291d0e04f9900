from django.contrib.admin.utils import model_ngettext
from django.utils.translation import ngettext


class ProtectedDeleteSummaryMixin:
    """Refuse deleting rows that still hold protected CRM records, with one summary line.

    Django's stock confirmation page collects and lists every protected object, which at
    100k deals in one stage means a page of 100k links. Here a single counting query per
    relation decides, and the page says how many records block the delete and what to do.
    `protected_relations` maps a reverse accessor to the advice shown.
    """

    protected_relations: dict[str, str] = {}

    def get_deleted_objects(self, objs, request):
        blocking = []
        for accessor, advice in self.protected_relations.items():
            field = self.model._meta.get_field(accessor)
            related = field.related_model
            count = related._default_manager.filter(**{f"{field.field.name}__in": objs}).count()
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
