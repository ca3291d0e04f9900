"""The query shape of every API list and detail: what each one joins and prefetches, so that
a page costs the same number of queries at any size. Serializers read only what is loaded here.

Query counts are per page of results, besides the pagination COUNT.
"""

from django.db.models import Prefetch, QuerySet

from crm_admin.models import (
    Company,
    Contact,
    ContactNote,
    Deal,
    DealNote,
    Stage,
    Tag,
    visible_deals_condition,
)


def _tags() -> Prefetch:
    """The row's tags by name, as a plain list in `prefetched_tags`.

    A list rather than the related manager's cache: Django builds one QuerySet per row to hold
    that cache, which at 200 rows costs more than the prefetch query itself.
    """
    return Prefetch(
        "tags", queryset=Tag.objects.only("id", "name").order_by("name"), to_attr="prefetched_tags"
    )


def companies_for_api() -> QuerySet[Company]:
    """Companies with `contact_count` (a correlated subquery, no GROUP BY): one query."""
    return Company.objects.with_contact_count()


def contacts_for_api() -> QuerySet[Contact]:
    """Contacts with their company and owner joined and their tags prefetched: two queries."""
    return Contact.objects.select_related("company", "owner").prefetch_related(_tags())


def deals_for_api(*, user) -> QuerySet[Deal]:
    """The deals `user` sees (Deal.objects.visible_to: with visibility "own", their own
    unless they see all), with stage, owner, lost reason, contact and the contact's company
    joined, tags prefetched: two queries."""
    return (
        Deal.objects.visible_to(user)
        .select_related("stage", "owner", "lost_reason", "contact__company")
        .prefetch_related(_tags())
    )


def stages_for_api() -> QuerySet[Stage]:
    """Pipeline stages in pipeline order: one query."""
    return Stage.objects.all()


def tags_for_api() -> QuerySet[Tag]:
    """Tags by name: one query."""
    return Tag.objects.all()


def contact_notes_for_api(*, contact_id: int) -> QuerySet[ContactNote]:
    """One contact's notes, newest first, with their author joined: one query."""
    return ContactNote.objects.filter(contact_id=contact_id).select_related("created_by")


def visible_deals_for_api(*, user) -> QuerySet[Deal]:
    """The deals `user` sees, nothing joined: a deal's notes are theirs only if this finds
    the deal. One query when read."""
    return Deal.objects.visible_to(user)


def deal_notes_for_api(*, deal_id: int, user) -> QuerySet[DealNote]:
    """One deal's notes, newest first, with their author joined, none unless `user` sees the
    deal (visible_deals_condition): one query."""
    return DealNote.objects.filter(
        visible_deals_condition(user, through="deal__"), deal_id=deal_id
    ).select_related("created_by")
