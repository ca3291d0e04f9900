"""What happened to a deal, a contact or a company, newest first, and the records a contact
or company page lists: reads for those change pages (selectors.py holds the dashboard's).

A timeline mixes rows of several tables (notes, stage changes, the records' creation). A page
of it costs the same queries however long the history: one UNION ALL of (source, id, time)
over the tables, ordered by time with a tie-breaker and sliced to the page, one count of that
union, then one query per source present on the page that reads its rows by id with what they
show (author, stages, lost reason, deal). Each part of the union reads an index on its parent
key (crm_dealnote_deal_idx, crm_contactnote_contact_idx, crm_stagechange_deal_idx, the
foreign keys of deals and contacts).

The contact's and the company's selectors take the viewing `user`: their deals, and those
deals' notes and stage changes, are the ones the user may see (visible_deals_condition; one
more condition on a table each part already joins, so no more queries). Without a user (a
caller with no viewer) they read every deal. Contacts and companies are shared: their own
rows are never filtered.
"""

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.models import (
    Company,
    Contact,
    ContactNote,
    Deal,
    DealNote,
    MergedRecord,
    Stage,
    visible_deals_condition,
)
from crm_admin.selectors import ExactSum, money

TIMELINE_PER_PAGE = 20
RELATED_LIMIT = 20


class TimelineSource(enum.IntEnum):
    """The table a timeline row comes from. The value also breaks ties between rows at the
    same moment, higher first: a note logged as a record is created reads above it."""

    COMPANY = 1  # the company's creation
    CONTACT = 2  # a contact's creation
    STAGE_CHANGE = 3  # a deal's creation (from no stage) or move
    DEAL_NOTE = 4
    CONTACT_NOTE = 5
    MERGED = 6  # a record merged into the timeline's own (crm_admin.merging)


ALL_SOURCES = frozenset(TimelineSource)


class TimelineKind(enum.StrEnum):
    """What a timeline item says happened."""

    NOTE = "note"
    CREATED = "created"
    MOVED = "moved"  # into an open stage
    WON = "won"
    LOST = "lost"
    MERGED = "merged"


@dataclass(frozen=True)
class TimelineItem:
    """One event. `text` is plain text: the note, or what happened ("Moved from A to B after
    3 days."). `deal` and `contact` are the records it concerns other than the timeline's own
    (the deal of a note on a contact's timeline; None on the deal's own)."""

    kind: TimelineKind
    at: datetime
    who: AbstractBaseUser | None  # who did it, when known
    text: str
    source: TimelineSource
    deal: Deal | None = None
    contact: Contact | None = None
    lost_reason: LostReason | None = None


def deal_timeline(
    *,
    deal: Deal,
    page: int | str | None = 1,
    sources: Collection[TimelineSource] = ALL_SOURCES,
    per_page: int = TIMELINE_PER_PAGE,
) -> Page:
    """A deal's history, newest first: its notes and its stage changes, the first of which is
    its creation (from no stage), with who and when, won or lost with the lost reason.

    `page` out of range gives the nearest page, one that is no number the first; `sources`
    leaves out what the viewer may not see (notes without the note permission). Returns a
    Django Page of TimelineItems. Queries: one count and one page of the UNION, plus one per
    source present on the page (two at most), whatever the length of the history.
    """
    parts = {
        TimelineSource.STAGE_CHANGE: DealStageChange.objects.filter(deal=deal),
        TimelineSource.DEAL_NOTE: DealNote.objects.filter(deal=deal),
    }
    return _timeline(parts, sources, page, per_page, own=deal)


def visible_deals(user: AbstractBaseUser | None, *, through: str = "") -> Q:
    """The deals (reached by `through`) that `user` may see; every deal without a user."""
    return Q() if user is None else visible_deals_condition(user, through=through)


def contact_timeline(
    *,
    contact: Contact,
    user: AbstractBaseUser | None = None,
    page: int | str | None = 1,
    sources: Collection[TimelineSource] = ALL_SOURCES,
    per_page: int = TIMELINE_PER_PAGE,
) -> Page:
    """A contact's history, newest first: its own notes, the notes and stage changes of its
    deals that `user` may see (each deal's creation among them; every deal without a user),
    the contacts merged into it and its creation. Paging and `sources` as deal_timeline().
    Queries: one count, one page, one per source present on the page (four at most: the
    contact's creation is `contact` itself)."""
    deals = visible_deals(user, through="deal__")
    parts = {
        TimelineSource.CONTACT: Contact.objects.filter(pk=contact.pk),
        TimelineSource.CONTACT_NOTE: ContactNote.objects.filter(contact=contact),
        TimelineSource.DEAL_NOTE: DealNote.objects.filter(deals, deal__contact=contact),
        TimelineSource.STAGE_CHANGE: DealStageChange.objects.filter(deals, deal__contact=contact),
        TimelineSource.MERGED: MergedRecord.objects.filter(contact=contact),
    }
    return _timeline(parts, sources, page, per_page, own=contact)


def company_timeline(
    *,
    company: Company,
    user: AbstractBaseUser | None = None,
    page: int | str | None = 1,
    sources: Collection[TimelineSource] = ALL_SOURCES,
    per_page: int = TIMELINE_PER_PAGE,
) -> Page:
    """A company's history, newest first: its creation, the companies merged into it, its
    contacts' creation, their notes, and the notes and stage changes of their deals that
    `user` may see (every deal without a user). Contacts count as the company's while they
    are (a contact moved to another company takes its history along). Paging and `sources`
    as deal_timeline(). Queries: one count, one page, one per source present on the page
    (five at most: the company's creation is `company` itself)."""
    deals = visible_deals(user, through="deal__")
    parts = {
        TimelineSource.COMPANY: Company.objects.filter(pk=company.pk),
        TimelineSource.CONTACT: Contact.objects.filter(company=company),
        TimelineSource.CONTACT_NOTE: ContactNote.objects.filter(contact__company=company),
        TimelineSource.DEAL_NOTE: DealNote.objects.filter(deals, deal__contact__company=company),
        TimelineSource.STAGE_CHANGE: DealStageChange.objects.filter(
            deals, deal__contact__company=company
        ),
        TimelineSource.MERGED: MergedRecord.objects.filter(company=company),
    }
    return _timeline(parts, sources, page, per_page, own=company)


# Each source's time column.
_TIME_FIELD = {
    TimelineSource.COMPANY: "created_at",
    TimelineSource.CONTACT: "created_at",
    TimelineSource.STAGE_CHANGE: "changed_at",
    TimelineSource.DEAL_NOTE: "created_at",
    TimelineSource.CONTACT_NOTE: "created_at",
    TimelineSource.MERGED: "merged_at",
}


def _rows(source: TimelineSource, records: QuerySet) -> QuerySet:
    """`records` as (source, id, time) rows, the shape every part of the union shares."""
    return (
        records.order_by()
        .annotate(
            timeline_source=Value(int(source), output_field=IntegerField()),
            timeline_at=F(_TIME_FIELD[source]),
        )
        .values_list("timeline_source", "id", "timeline_at")
    )


def page_number(value: object, last: int) -> int:
    """`value` (a GET parameter, an int) as a page between 1 and `last`: past the end the
    last page, anything else that is no positive number the first."""
    if isinstance(value, int):
        number = value
    else:
        text = str(value or "").strip()
        if not (text.isascii() and text.isdigit()):
            number = 1
        else:
            # Past 18 digits surely past the end (and Python refuses int() of 4,300 digits).
            number = int(text) if len(text) <= 18 else last
    return min(max(number, 1), max(last, 1))


def _timeline(parts: dict, sources, page, per_page: int, *, own) -> Page:
    chosen = [_rows(source, records) for source, records in parts.items() if source in sources]
    if not chosen:
        return Paginator([], per_page).page(1)
    union = chosen[0].union(*chosen[1:], all=True) if len(chosen) > 1 else chosen[0]
    # Newest first; rows at the same moment by source, then newest id: one order, so a row
    # never shows on two pages nor on none.
    union = union.order_by("-timeline_at", "-timeline_source", "-id")
    paginator = Paginator(union, per_page)
    number = page_number(page, paginator.num_pages)
    result = paginator.page(number)
    result.object_list = _items(list(result.object_list), own=own)
    return result


def _items(rows: list[tuple[int, int, datetime]], *, own) -> list[TimelineItem]:
    """The TimelineItems of a page's (source, id, time) rows, in their order: one query per
    source among them, none for `own` (the timeline's record)."""
    ids: dict[TimelineSource, list[int]] = {}
    for source, pk, _at in rows:
        ids.setdefault(TimelineSource(source), []).append(pk)
    records = {source: _read(source, pks, own=own) for source, pks in ids.items()}
    # A row deleted between the two reads is left out rather than failing the page.
    return [
        _item(TimelineSource(source), records[source][pk], own=own)
        for source, pk, _at in rows
        if pk in records[source]
    ]


def _read(source: TimelineSource, pks: list[int], *, own) -> dict:
    """The rows of `source` with these ids, with what their items show, by id."""
    on_company = isinstance(own, Company)
    if source is TimelineSource.COMPANY or (
        source is TimelineSource.CONTACT and isinstance(own, Contact)
    ):
        return {own.pk: own}
    if source is TimelineSource.CONTACT:
        records = Contact.objects.all()
    elif source is TimelineSource.CONTACT_NOTE:
        records = ContactNote.objects.select_related(
            "created_by", *(["contact"] if on_company else [])
        )
    elif source is TimelineSource.MERGED:
        records = MergedRecord.objects.select_related("merged_by")
    elif source is TimelineSource.DEAL_NOTE:
        deal = [] if isinstance(own, Deal) else ["deal__contact"] if on_company else ["deal"]
        records = DealNote.objects.select_related("created_by", *deal)
    else:
        records = DealStageChange.objects.for_timeline()
        if on_company:
            records = records.select_related("deal__contact")
    return records.order_by().in_bulk(pks)


def _concerns(source: TimelineSource, record, own) -> tuple[Deal | None, Contact | None]:
    """The deal and the contact a row is about, besides the timeline's own record: a deal's
    rows name the deal on a contact's timeline, and the deal and its contact on a company's;
    a contact's rows name the contact on a company's."""
    if isinstance(own, Deal):
        return None, None
    deal = (
        record.deal if source in (TimelineSource.DEAL_NOTE, TimelineSource.STAGE_CHANGE) else None
    )
    if isinstance(own, Contact):
        return deal, None
    if deal is not None:
        return deal, deal.contact
    if source is TimelineSource.CONTACT:
        return None, record
    if source is TimelineSource.CONTACT_NOTE:
        return None, record.contact
    return None, None


def _item(source: TimelineSource, record, *, own) -> TimelineItem:
    deal, contact = _concerns(source, record, own)
    common = {"source": source, "deal": deal, "contact": contact}
    if source is TimelineSource.STAGE_CHANGE:
        return TimelineItem(
            kind=stage_change_kind(record),
            at=record.changed_at,
            who=record.changed_by,
            text=stage_change_text(record),
            lost_reason=record.lost_reason,
            **common,
        )
    if source in (TimelineSource.CONTACT_NOTE, TimelineSource.DEAL_NOTE):
        return TimelineItem(
            kind=TimelineKind.NOTE,
            at=record.created_at,
            who=record.created_by,
            text=record.text,
            **common,
        )
    if source is TimelineSource.MERGED:
        return TimelineItem(
            kind=TimelineKind.MERGED,
            at=record.merged_at,
            who=record.merged_by,
            text=_("Merged %(label)s into this %(noun)s.")
            % {"label": record.label, "noun": own._meta.verbose_name},
            **common,
        )
    text = _("Company created.") if source is TimelineSource.COMPANY else _("Contact created.")
    return TimelineItem(
        kind=TimelineKind.CREATED, at=record.created_at, who=None, text=text, **common
    )


def stage_change_kind(change: DealStageChange) -> TimelineKind:
    """A deal's creation, a move into an open stage, or a win or loss (the stage's outcome)."""
    if change.from_stage_id is None:
        return TimelineKind.CREATED
    return {
        Stage.Outcome.WON: TimelineKind.WON,
        Stage.Outcome.LOST: TimelineKind.LOST,
    }.get(change.to_stage.outcome, TimelineKind.MOVED)


def stage_change_text(change: DealStageChange) -> str:
    """What a stage change says: "Created in A." or "Moved from A to B after 3 days." (the
    time the deal spent in A, when known). Its stages loaded: no query."""
    if change.from_stage_id is None:
        return _("Created in %(stage)s.") % {"stage": change.to_stage}
    names = {"from": change.from_stage, "to": change.to_stage}
    entered = change.from_stage_entered_at
    if entered is None or change.changed_at - entered < timedelta(minutes=1):
        # Not known (a row written without it), or too short to be worth saying.
        return _("Moved from %(from)s to %(to)s.") % names
    return _("Moved from %(from)s to %(to)s after %(time)s.") % {
        **names,
        "time": timesince(entered, now=change.changed_at),
    }


# --- Related records ---------------------------------------------------------------------


@dataclass(frozen=True)
class RelatedDeals:
    """Up to a limit of a record's deals (newest first, the deal list's order) and figures
    over all of them: how many, how many open, and the open value (the sum of the open
    deals' amounts, exact; deals without an amount add nothing)."""

    deals: list[Deal]
    count: int
    open_count: int
    open_value: Decimal

    @property
    def more(self) -> bool:
        return self.count > len(self.deals)


@dataclass(frozen=True)
class RelatedContacts:
    """Up to a limit of a company's contacts (the contact list's order) and how many it has."""

    contacts: list[Contact]
    count: int

    @property
    def more(self) -> bool:
        return self.count > len(self.contacts)


def contact_deals(
    *, contact: Contact, user: AbstractBaseUser | None = None, limit: int = RELATED_LIMIT
) -> RelatedDeals:
    """The contact page's deals that `user` may see (every deal without a user): the newest
    `limit` with their stage and owner, and the figures over all of them. Two queries (the
    rows, one aggregate), through the deal's contact key."""
    return _related_deals(
        Deal.objects.filter(visible_deals(user), contact=contact), limit, ("stage", "owner")
    )


def company_deals(
    *, company: Company, user: AbstractBaseUser | None = None, limit: int = RELATED_LIMIT
) -> RelatedDeals:
    """The company page's deals, those of its contacts that `user` may see: as
    contact_deals(), each with its contact. Two queries."""
    # Newest first by an expression, not the column: with the column PostgreSQL walks the
    # whole created_at index backwards looking for this company's few deals (365 ms for a
    # company of 1,939 deals among 1M); this way it reads them through the company's
    # contacts and sorts them (53 ms).
    newest_first = (Coalesce("created_at", "created_at").desc(), F("id").desc())
    return _related_deals(
        Deal.objects.filter(visible_deals(user), contact__company=company),
        limit,
        ("stage", "owner", "contact"),
        order=newest_first,
    )


def company_contacts(*, company: Company, limit: int = RELATED_LIMIT) -> RelatedContacts:
    """The company page's contacts: the first `limit` in the contact list's order (name) with
    their owner, and how many there are. Two queries, through the contact's company key."""
    contacts = Contact.objects.filter(company=company)
    return RelatedContacts(
        contacts=list(contacts.select_related("owner")[:limit]),
        count=contacts.order_by().count(),
    )


_OPEN = Q(stage__outcome=Stage.Outcome.OPEN)


def _related_deals(
    deals: QuerySet[Deal], limit: int, related: Iterable[str], *, order=("-created_at", "-id")
) -> RelatedDeals:
    rows = list(deals.select_related(*related).order_by(*order)[:limit])
    figures = deals.order_by().aggregate(
        count=Count("pk"),
        open_count=Count("pk", filter=_OPEN),
        open_value=ExactSum("amount", filter=_OPEN),
    )
    return RelatedDeals(
        deals=rows,
        count=figures["count"],
        open_count=figures["open_count"],
        open_value=money(figures["open_value"]),
    )
