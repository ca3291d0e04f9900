"""Writes shared by every caller: the admin actions and buttons now, the board and API later.

Every function takes the rows to change as a QuerySet (a selection, or a whole filtered list when
the user picked "select all"), runs in one transaction and issues a fixed number of SQL statements
whatever the number of rows: the rows are addressed through a subquery, never loaded one by one.
When an `actor` is given, each changed row gets an entry in the admin history.
"""

from collections.abc import Iterable

from django.contrib.admin.models import CHANGE
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_admin.deal_history import DealStageChange, LostReason, check_lost_reason
from crm_admin.models import Contact, Deal, OutcomeCause, Stage, Tag
from crm_admin.sql import select_sql


def _rows(queryset: QuerySet) -> QuerySet:
    """The same rows as a plain `pk IN (subquery)` QuerySet: safe to update() or delete()
    whatever joins, DISTINCT, ordering or annotations the caller's QuerySet carries."""
    return queryset.model._default_manager.filter(pk__in=queryset.order_by().values("pk"))


def _history_record(*, actor, rows: QuerySet, message: str) -> None:
    """One admin-history "changed" entry per row in `rows`, by a single INSERT ... SELECT."""
    if actor is None:
        return
    model = rows.model
    qn = connection.ops.quote_name
    row_ids, select_params = select_sql(rows.values("pk"))
    table = qn(model._meta.db_table)
    repr_field = "title" if model is Deal else "email"
    content_type = ContentType.objects.get_for_model(model)
    sql = (
        "INSERT INTO django_admin_log "
        "(action_time, user_id, content_type_id, object_id, object_repr, action_flag, "
        "change_message) "
        f"SELECT %s, %s, %s, CAST(r.id AS TEXT), SUBSTR(r.{qn(repr_field)}, 1, 200), %s, %s "
        f"FROM {table} r WHERE r.id IN ({row_ids})"
    )
    action_time = connection.ops.adapt_datetimefield_value(timezone.now())
    params = (action_time, actor.pk, content_type.pk, CHANGE, message, *select_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _lock(rows: QuerySet) -> None:
    """Lock `rows` until the transaction ends, by one statement that returns a count (not the
    rows), so that what the next statements read of them (a deal's stage, for its history)
    is what they then update. SQLite needs none: its transactions start IMMEDIATE, one
    writer at a time (settings.py)."""
    if not connection.features.has_select_for_update:
        return
    locking = rows.select_for_update(of=("self",)).order_by().values("pk")
    sql, params = select_sql(locking)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) locked", params)


def stage_for_outcome(outcome: str) -> Stage:
    """The first stage (by pipeline order) with `outcome`; one query.

    Refuses with a ValidationError when no stage has that outcome.
    """
    stage = Stage.objects.filter(outcome=outcome).order_by("order", "id").first()
    if stage is None:
        label = Stage.Outcome(outcome).label
        raise ValidationError(
            _("No pipeline stage has the outcome “%(outcome)s”. Add one under Pipeline stages.")
            % {"outcome": label}
        )
    return stage


@transaction.atomic
def deals_move_to_stage(
    *, deals: QuerySet[Deal], stage: Stage, actor=None, lost_reason: LostReason | None = None
) -> int:
    """Move `deals` into `stage`, applying the pipeline rules; returns how many deals moved.

    The rule is Deal.STAGE_OUTCOME_RULE for a move: won stage, probability 100 and `closed_at`
    now; lost stage, probability 0, `closed_at` now and `lost_reason`; open stage, `closed_at`
    cleared, probability kept. Each moved deal enters the stage now (`stage_entered_at`) and
    gets a row in its stage history, by `actor`. Deals already in `stage` are left as they
    are (their `closed_at` keeps the day they closed).

    Refuses, changing nothing, a move into a lost stage without a `lost_reason` while reasons
    are required (CRM_REQUIRE_LOST_REASON). Three statements whatever the number of deals
    (admin history, stage history, update; on PostgreSQL a row lock first), plus one
    content-type lookup the first time.
    """
    check_lost_reason(stage, lost_reason)
    moving = _rows(deals).exclude(stage=stage)
    # Two moves of one deal at once: the second waits here, then records the stage the
    # first moved it to, not the one both started from.
    _lock(moving)
    at = timezone.now()
    changes = Deal.outcome_changes(OutcomeCause.MOVED, stage.outcome, at=at)
    if stage.outcome != Stage.Outcome.LOST:
        lost_reason = None
    elif lost_reason is not None:
        changes["lost_reason"] = lost_reason
    message = _("Moved to stage %s.") % stage.name
    if lost_reason is not None:
        message = _("Moved to stage %(stage)s: %(reason)s.") % {
            "stage": stage.name,
            "reason": lost_reason.name,
        }
    _history_record(actor=actor, rows=moving, message=message)
    DealStageChange.objects.record_moves(
        moving, stage=stage, at=at, actor=actor, lost_reason=lost_reason
    )
    return moving.update(stage=stage, **changes)


@transaction.atomic
def stage_change_outcome(*, stage: Stage, outcome: str, actor=None) -> int:
    """Give `stage` a new `outcome`; its deals follow (Deal.STAGE_OUTCOME_RULE for a change of
    the stage: reopened deals remember their close date and get it back if the stage returns
    to that outcome; won <-> lost keeps it). Returns how many deals it affected.

    Refuses an unknown outcome with a ValidationError. Each affected deal gets a history entry
    when an `actor` is given. Reads the stage's outcome under a row lock, so two changes at
    once apply one after the other. Six statements whatever the number of deals (lock, count,
    history, then Stage.save(): lock, stage update, deals update; only the lock when the
    outcome is unchanged), plus one content-type lookup the first time.
    """
    if outcome not in Stage.Outcome.values:
        raise ValidationError(_("“%(outcome)s” is not a stage outcome.") % {"outcome": outcome})
    outcome_was = (
        Stage.objects.select_for_update().values_list("outcome", flat=True).get(pk=stage.pk)
    )
    if outcome_was == outcome:
        stage.outcome = outcome
        return 0
    deals = Deal.objects.filter(stage=stage)
    affected = deals.count()
    _history_record(
        actor=actor,
        rows=deals,
        message=_("Outcome of stage %(stage)s changed from %(was)s to %(outcome)s.")
        % {
            "stage": stage.name,
            "was": Stage.Outcome(outcome_was).label,
            "outcome": Stage.Outcome(outcome).label,
        },
    )
    stage.outcome = outcome
    # Stage.save() applies the rule to the deals: the invariant lives in the model.
    stage.save(update_fields=["outcome"])
    return affected


def deals_mark_won(*, deals: QuerySet[Deal], actor=None) -> int:
    """Move `deals` to the first won stage (probability 100, closed now); returns the count.

    Refuses with a ValidationError, changing nothing, when no stage has the outcome won.
    Five queries whatever the number of deals.
    """
    return deals_move_to_stage(deals=deals, stage=stage_for_outcome(Stage.Outcome.WON), actor=actor)


def deals_mark_lost(
    *, deals: QuerySet[Deal], actor=None, lost_reason: LostReason | None = None
) -> int:
    """Move `deals` to the first lost stage (probability 0, closed now, `lost_reason`);
    returns the count.

    Refuses with a ValidationError, changing nothing, when no stage has the outcome lost, or
    without a reason while reasons are required. Five queries whatever the number of deals.
    """
    return deals_move_to_stage(
        deals=deals,
        stage=stage_for_outcome(Stage.Outcome.LOST),
        actor=actor,
        lost_reason=lost_reason,
    )


@transaction.atomic
def deals_assign_owner(*, deals: QuerySet[Deal], owner, actor=None) -> int:
    """Make `owner` (a user, or None to unassign) the owner of `deals`; returns how many changed.

    Deals that already have that owner are left alone. Two statements (history, update).
    """
    selected = _rows(deals)
    changing = selected.exclude(owner=owner) if owner else selected.filter(owner__isnull=False)
    name = owner.get_username() if owner else _("nobody")
    _history_record(actor=actor, rows=changing, message=_("Owner set to %s.") % name)
    return changing.update(owner=owner, updated_at=timezone.now())


@transaction.atomic
def next_steps_set(*, rows: QuerySet, text: str, due=None, actor=None) -> int:
    """Give every deal or contact in `rows` the next step `text`, due on `due` (a date or
    None); an empty `text` clears it. Returns how many records changed.

    Closed deals are left out: a closed deal has no next step (Deal.STAGE_OUTCOME_RULE).
    Refuses, changing nothing, a date without a step and a step longer than the field. Two
    statements (history, update) whatever the number of rows.
    """
    text = (text or "").strip()
    model = rows.model
    limit = model._meta.get_field("next_step").max_length
    if due is not None and not text:
        raise ValidationError(_("Say what the next step is, or leave its date empty."))
    if len(text) > limit:
        raise ValidationError(_("A next step has at most %(limit)d characters.") % {"limit": limit})
    changing = _rows(rows).exclude(next_step=text, next_step_due=due)
    if model is Deal:
        changing = changing.filter(stage__outcome=Stage.Outcome.OPEN)
    if text:
        when = _(" due %s") % due.isoformat() if due else ""
        message = _("Next step set to “%(text)s”%(when)s.") % {"text": text, "when": when}
    else:
        message = _("Next step cleared.")
    _history_record(actor=actor, rows=changing, message=message)
    return changing.update(next_step=text, next_step_due=due, updated_at=timezone.now())


@transaction.atomic
def contacts_set_status(*, contacts: QuerySet[Contact], status: str, actor=None) -> int:
    """Set the status of `contacts`; returns how many changed. Refuses an unknown status.

    Two statements (history, update) whatever the number of contacts.
    """
    if status not in Contact.Status.values:
        raise ValidationError(_("“%(status)s” is not a contact status.") % {"status": status})
    changing = _rows(contacts).exclude(status=status)
    label = Contact.Status(status).label
    _history_record(actor=actor, rows=changing, message=_("Status set to %s.") % label)
    return changing.update(status=status, updated_at=timezone.now())


def _tag_names(tags: Iterable[Tag]) -> str:
    return ", ".join(sorted(tag.name for tag in tags))


@transaction.atomic
def tags_add(*, rows: QuerySet, tags: Iterable[Tag], actor=None) -> int:
    """Add each of `tags` to every contact or deal in `rows`; returns how many links were made.

    Links that already exist are skipped. The rows gaining a tag get `updated_at` now, so a
    form opened before is refused as stale. Three statements (history, one UPDATE of
    `updated_at`, one INSERT ... SELECT for the links) whatever the number of rows or tags.
    """
    tags = list(tags)
    if not tags:
        return 0
    model: type[Model] = rows.model
    through = model.tags.through
    owner_column = through._meta.get_field(model._meta.model_name).column
    tag_column = through._meta.get_field("tag").column
    qn = connection.ops.quote_name
    selected = _rows(rows)
    row_ids, select_params = select_sql(selected.values("pk"))
    tag_ids = [tag.pk for tag in tags]
    tag_placeholders = ", ".join(["%s"] * len(tag_ids))
    link_table = qn(through._meta.db_table)
    sql = (
        f"INSERT INTO {link_table} ({qn(owner_column)}, {qn(tag_column)}) "
        f"SELECT r.id, t.id FROM {qn(model._meta.db_table)} r "
        f"CROSS JOIN {qn(Tag._meta.db_table)} t "
        f"WHERE r.id IN ({row_ids}) AND t.id IN ({tag_placeholders}) AND NOT EXISTS ("
        f"SELECT 1 FROM {link_table} l "
        f"WHERE l.{qn(owner_column)} = r.id AND l.{qn(tag_column)} = t.id)"
    )
    _history_record(actor=actor, rows=selected, message=_("Tags added: %s.") % _tag_names(tags))
    link = through.objects.filter(
        **{model._meta.model_name: OuterRef(OuterRef("pk")), "tag": OuterRef("pk")}
    )
    lacking_a_tag = Tag.objects.filter(pk__in=tag_ids).filter(~Exists(link))
    selected.filter(Exists(lacking_a_tag)).update(updated_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, (*select_params, *tag_ids))
        return cursor.rowcount


@transaction.atomic
def tags_remove(*, rows: QuerySet, tags: Iterable[Tag], actor=None) -> int:
    """Remove each of `tags` from every contact or deal in `rows`; returns how many links went.

    The rows losing a tag get `updated_at` now, so a form opened before is refused as stale.
    Three statements (history, one UPDATE of `updated_at`, one DELETE of the links) whatever
    the number of rows or tags.
    """
    tags = list(tags)
    if not tags:
        return 0
    model = rows.model
    through = model.tags.through
    selected = _rows(rows)
    links = through.objects.filter(
        **{f"{model._meta.model_name}__in": selected.values("pk"), "tag__in": tags}
    )
    _history_record(actor=actor, rows=selected, message=_("Tags removed: %s.") % _tag_names(tags))
    selected.filter(Exists(links.filter(**{model._meta.model_name: OuterRef("pk")}))).update(
        updated_at=timezone.now()
    )
    deleted, _per_model = links.delete()
    return deleted
