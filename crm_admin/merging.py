"""Merging duplicates: the records chosen as one become the one that stays (the survivor).

One transaction locks the records, moves to the survivor every row pointing at the others
(deals, notes, tag links, contacts of a company, earlier merges, the admin history), writes
what the merge leaves behind (a MergedRecord per merged record with all its values, and
history entries on both sides), deletes the others and saves the survivor with the values
chosen field by field. Every statement addresses the rows through their parent keys (bulk
UPDATEs), so a merge runs the same number of queries however many rows move.

Not moved: a saved filter's querystring that names a merged record's id (`?contact=12`)
keeps that id and now matches nothing; it is the user's own text, left as written.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm_admin.folding import derived_keys
from crm_admin.models import Company, Contact, ContactNote, Deal, MergedRecord, latest_contact

# More than this many records at once is refused: a merge is a decision about each one.
MAX_MERGED = 10


@dataclass(frozen=True)
class MergeSpec:
    """How one model merges: the fields chosen per record (`choices`: a choice's name and the
    fields it sets together; `labels`, as the merge page names them), and the rows pointing
    at a record that move to the survivor (`moves`: model, its foreign key to the record,
    whether the row has an `updated_at` to bump so that a form opened before the merge is
    refused as stale). `tags`: the model's tags are united. `latest`: fields the survivor
    takes the latest of (latest_contact()). `related_names`: the foreign keys whose target a
    snapshot also names (by that attribute or method)."""

    model: type[models.Model]
    kind: str
    choices: dict[str, tuple[str, ...]]
    labels: dict[str, str]
    moves: tuple[tuple[type[models.Model], str, bool], ...]
    tags: bool = False
    latest: tuple[str, ...] = ()
    related_names: dict[str, str] = field(default_factory=dict)


CONTACT_MERGE = MergeSpec(
    model=Contact,
    kind=MergedRecord.Kind.CONTACT,
    choices={
        "name": ("first_name", "last_name"),
        "email": ("email",),
        "phone": ("phone",),
        "title": ("title",),
        "company": ("company",),
        "owner": ("owner",),
        "status": ("status",),
        "next_step": ("next_step", "next_step_due"),
    },
    labels={
        "name": gettext_lazy("Name"),
        "email": gettext_lazy("Email"),
        "phone": gettext_lazy("Phone"),
        "title": gettext_lazy("Job title"),
        "company": gettext_lazy("Company"),
        "owner": gettext_lazy("Owner"),
        "status": gettext_lazy("Status"),
        "next_step": gettext_lazy("Next step"),
    },
    moves=((Deal, "contact", True), (ContactNote, "contact", False)),
    tags=True,
    latest=("last_contacted_at",),
    # Kept in the snapshot by name as well as by id: the id may not outlive the merge.
    related_names={"company": "name", "owner": "get_username"},
)

COMPANY_MERGE = MergeSpec(
    model=Company,
    kind=MergedRecord.Kind.COMPANY,
    choices={"name": ("name",), "industry": ("industry",), "website": ("website",)},
    labels={
        "name": gettext_lazy("Name"),
        "industry": gettext_lazy("Industry"),
        "website": gettext_lazy("Website"),
    },
    moves=((Contact, "company", True),),
)

SPECS = {Contact: CONTACT_MERGE, Company: COMPANY_MERGE}


def contacts_merge(
    *,
    survivor: Contact,
    others: Iterable[Contact],
    values: Mapping[str, int] | None = None,
    actor=None,
) -> Contact:
    """Merge `others` into `survivor` and delete them; returns the survivor as saved.

    `values` maps a choice of CONTACT_MERGE.choices ("name", "email", "phone", "title",
    "company", "owner", "status", "next_step": text and due date together) to the id of the
    record whose value the survivor keeps; a choice left out keeps the survivor's. Moved to
    the survivor: the others' deals (their notes and stage history go with them), contact
    notes, tags (the union, no link twice), earlier merges and admin history. The survivor
    keeps the latest `last_contacted_at` and the earliest `created_at`. Written: one
    MergedRecord per merged contact (its email stays findable, every value kept), and with
    an `actor` an admin-history entry on the survivor per merged contact ("Merged ... into
    this contact.") and one on each merged contact ("Merged into ... (#id).").

    Refuses with a ValidationError, writing nothing, fewer than two records or more than
    MAX_MERGED, the survivor among the others or a record twice, a record that is no contact
    or no longer exists, an unknown choice, and a choice naming a record not merged. A
    database error midway undoes everything. Queries: 16 whatever the number of deals,
    notes, tags and history rows (15 when the survivor gains no tag, 15 without an actor),
    plus a content-type lookup the first time: the read that locks the rows (FOR UPDATE on
    PostgreSQL), their tags, 7 writes, the delete (6, Django's: it reads the records, checks
    that no deal is left and clears what cascades) and the survivor's save.
    """
    return _merge(CONTACT_MERGE, survivor=survivor, others=others, values=values, actor=actor)


def companies_merge(
    *,
    survivor: Company,
    others: Iterable[Company],
    values: Mapping[str, int] | None = None,
    actor=None,
) -> Company:
    """Merge `others` into `survivor` and delete them; returns the survivor as saved.

    `values` maps "name", "industry" or "website" to the id of the record whose value the
    survivor keeps (the survivor's when left out). Moved to the survivor: the others'
    contacts (with their deals and notes), earlier merges and admin history; the survivor
    keeps the earliest `created_at`. Written as contacts_merge(): a MergedRecord per merged
    company, and with an `actor` the history entries on both sides.

    Refuses as contacts_merge() does. Queries: 11 whatever the number of contacts and
    history rows (10 without an actor), plus a content-type lookup the first time: the read
    that locks the rows, 5 writes, the delete (4) and the survivor's save.
    """
    return _merge(COMPANY_MERGE, survivor=survivor, others=others, values=values, actor=actor)


def _ids(spec: MergeSpec, survivor, others, values) -> tuple[int, list[int], dict[str, int]]:
    """The survivor's id, the others' ids and the choices, checked without a query."""
    model = spec.model
    plural = model._meta.verbose_name_plural
    others = list(others)
    records = [survivor, *others]
    if any(not isinstance(record, model) or record.pk is None for record in records):
        raise ValidationError(
            _("Only saved %(plural)s can be merged with one another.") % {"plural": plural}
        )
    if len(records) < 2:
        raise ValidationError(_("Choose at least two %(plural)s to merge.") % {"plural": plural})
    if len(records) > MAX_MERGED:
        raise ValidationError(
            _("At most %(limit)d %(plural)s can be merged at once.")
            % {"limit": MAX_MERGED, "plural": plural}
        )
    ids = [record.pk for record in records]
    if survivor.pk in ids[1:]:
        raise ValidationError(_("The record that stays cannot also be merged into itself."))
    if len(set(ids)) != len(ids):
        raise ValidationError(_("A record is listed twice: list each record once."))
    chosen = {}
    for name, pk in (values or {}).items():
        if name not in spec.choices:
            raise ValidationError(
                _("“%(name)s” is not a field that merging sets.") % {"name": name}
            )
        if pk not in ids:
            raise ValidationError(
                _("The value for “%(name)s” must come from one of the records merged.")
                % {"name": name}
            )
        chosen[name] = pk
    return survivor.pk, ids[1:], chosen


class _SnapshotEncoder(DjangoJSONEncoder):
    # DjangoJSONEncoder cuts times to the millisecond; a snapshot keeps them as stored.
    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


def _snapshot(spec: MergeSpec, record, tag_names: list[str]) -> dict:
    """Every field of `record` as it is (the derived keys aside, which its values give), as
    JSON, with the names of what its foreign keys point at and its tags."""
    keys = derived_keys(spec.model)
    values = {
        f.attname: f.value_from_object(record)
        for f in spec.model._meta.concrete_fields
        if f.name not in keys
    }
    for name, attribute in spec.related_names.items():
        related = getattr(record, name)
        value = getattr(related, attribute, None)
        values[name] = value() if callable(value) else value
    if spec.tags:
        values["tags"] = tag_names
    return json.loads(json.dumps(values, cls=_SnapshotEncoder))


def _history_entries(kept, merged, labels, *, actor, content_type) -> list[LogEntry]:
    """The admin history a merge writes: on the survivor, "Merged <label> into this <noun>."
    per merged record; on each merged record, "Merged into <survivor> (#id)"."""
    kept_label = str(kept)
    noun = kept._meta.verbose_name
    common = {"user_id": actor.pk, "content_type": content_type}
    return [
        *(
            LogEntry(
                **common,
                object_id=str(kept.pk),
                object_repr=kept_label[:200],
                action_flag=CHANGE,
                change_message=_("Merged %(label)s into this %(noun)s.")
                % {"label": labels[record.pk], "noun": noun},
            )
            for record in merged
        ),
        *(
            LogEntry(
                **common,
                object_id=str(record.pk),
                object_repr=labels[record.pk][:200],
                action_flag=DELETION,
                change_message=_("Merged into %(label)s (#%(id)s).")
                % {"label": kept_label, "id": kept.pk},
            )
            for record in merged
        ),
    ]


@transaction.atomic
def _merge(spec: MergeSpec, *, survivor, others, values, actor):
    model = spec.model
    survivor_id, other_ids, chosen = _ids(spec, survivor, others, values)
    ids = [survivor_id, *other_ids]
    # Locked in id order, so two merges sharing records wait for one another, never deadlock.
    rows = model._default_manager.select_for_update(of=("self",)).order_by("pk")
    if spec.related_names:
        rows = rows.select_related(*spec.related_names)
    records = rows.in_bulk(ids)
    if len(records) != len(ids):
        raise ValidationError(
            _("One of the %(plural)s to merge no longer exists: nothing was merged.")
            % {"plural": model._meta.verbose_name_plural}
        )
    kept, merged = records[survivor_id], [records[pk] for pk in other_ids]

    tags: dict[int, dict[int, str]] = {pk: {} for pk in ids}
    if spec.tags:
        through = model.tags.through
        owner = model._meta.model_name
        links = through.objects.filter(**{f"{owner}__in": ids})
        for owner_id, tag_id, name in links.values_list(f"{owner}_id", "tag_id", "tag__name"):
            tags[owner_id][tag_id] = name

    labels = {pk: str(record) for pk, record in records.items()}
    MergedRecord.objects.bulk_create(
        MergedRecord(
            kind=spec.kind,
            **{spec.kind: kept},
            merged_id=record.pk,
            label=labels[record.pk][:400],
            email=getattr(record, "email", ""),
            values=_snapshot(spec, record, sorted(tags[record.pk].values())),
            merged_by=actor,
        )
        for record in merged
    )

    now = timezone.now()
    for related, fk, bump in spec.moves:
        changes = {fk: kept, **({"updated_at": now} if bump else {})}
        related._default_manager.filter(**{f"{fk}__in": other_ids}).update(**changes)
    if spec.tags:
        gained = {tag for pk in other_ids for tag in tags[pk]} - set(tags[survivor_id])
        if gained:
            through.objects.bulk_create(
                through(**{f"{owner}_id": survivor_id, "tag_id": tag}) for tag in sorted(gained)
            )
    MergedRecord.objects.filter(**{f"{spec.kind}__in": other_ids}).update(**{spec.kind: kept})
    content_type = ContentType.objects.get_for_model(model)
    LogEntry.objects.filter(
        content_type=content_type, object_id__in=[str(pk) for pk in other_ids]
    ).update(object_id=str(survivor_id))

    for choice, fields in spec.choices.items():
        source = records[chosen.get(choice, survivor_id)]
        for name in fields:
            attname = model._meta.get_field(name).attname
            setattr(kept, attname, getattr(source, attname))
    kept.created_at = min(record.created_at for record in records.values())
    for name in spec.latest:
        for record in merged:
            setattr(kept, name, latest_contact(getattr(kept, name), getattr(record, name)))

    if actor is not None:
        LogEntry.objects.bulk_create(
            _history_entries(kept, merged, labels, actor=actor, content_type=content_type)
        )

    # The survivor may take a merged record's email or name only once that record is gone:
    # both are unique (email_key, name_key).
    model._default_manager.filter(pk__in=other_ids).delete()
    kept.save()
    return kept
