"""The pipeline: stages and deals, and the stage-outcome rule that ties them."""

import enum
from datetime import datetime, timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.conf import crm_settings
from crm_admin.deal_history import DealStageChange, LostReason
from crm_admin.folding import FoldedKeyField, FoldedKeys, FoldedKeysQuerySet, fold
from crm_admin.locks import transaction_lock
from crm_admin.models.next_steps import (
    NextStepFields,
    NextStepQuerySet,
    next_step_constraint,
    owner_field,
)
from crm_admin.models.records import Company, Contact, Tag, _count_subquery


class StageQuerySet(FoldedKeysQuerySet):
    def with_deal_count(self):
        return self.annotate(deal_count=_count_subquery(Deal, "stage"))

    def get_by_natural_key(self, name):
        return self.get(name_key=fold(name))


DEAL_VISIBILITIES = ("all", "own")


def sees_all_deals(user) -> bool:
    """Whether `user` sees every deal: CRM_DEAL_VISIBILITY is "all" (the default), or the
    user has crm_admin.view_all_deals (superusers have every permission). No query beyond
    Django's permission cache."""
    return crm_settings.CRM_DEAL_VISIBILITY == "all" or user.has_perm("crm_admin.view_all_deals")


def visible_deals_condition(user, *, through: str = "") -> Q:
    """The one rule of deal visibility, as a condition on deals (or, with `through`, on rows
    that reach a deal by that path, such as "deal__" for deal notes): every deal for a user
    who sees all (sees_all_deals), else only the deals the user owns; nothing for an
    anonymous user. Every surface that reads deals goes through this or visible_to()."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if sees_all_deals(user):
        return Q()
    return Q(**{f"{through}owner": user})


class DealQuerySet(NextStepQuerySet):
    def visible_to(self, user):
        """The deals of these that `user` may see (visible_deals_condition)."""
        return self.filter(visible_deals_condition(user))

    def for_admin_list(self):
        return self.select_related("contact__company", "stage", "owner")

    def next_step_due(self, due: str, *, today=None):
        """Open deals whose next step is `due`: a closed deal has none (STAGE_OUTCOME_RULE)."""
        return super().next_step_due(due, today=today).filter(stage__outcome=Stage.Outcome.OPEN)

    def stale(self, *, now=None):
        """These deals that are stale at `now` (see stale_condition); one query for the stages."""
        return self.filter(stale_condition(now=now))


def stale_condition(*, now=None, stages=None) -> Q:
    """The open deals that have been in their stage for longer than the stage's
    `stale_after_days` at `now` (elapsed time, the same in every time zone); stages without
    the setting have no stale deals. Reads the stages (one query) unless `stages` is given.
    Deal.is_stale() is the same rule for one deal in memory."""
    now = now or timezone.now()
    if stages is None:
        stages = Stage.objects.filter(stale_after_days__isnull=False)
    condition = Q(pk__in=[])
    for stage in stages:
        if stage.stale_after_days and not stage.is_closed:
            cutoff = now - timedelta(days=stage.stale_after_days)
            condition |= Q(stage_id=stage.pk, stage_entered_at__lt=cutoff)
    return condition


class Stage(FoldedKeys, models.Model):
    class Outcome(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(_("name"), max_length=100)
    name_key = FoldedKeyField(source="name")
    order = models.PositiveIntegerField(_("order"), default=0, db_index=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.OPEN
    )
    stale_after_days = models.PositiveSmallIntegerField(
        _("stale after (days)"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(1, message=_("A deal is stale after one day at least.")),
            # PostgreSQL's smallint, on SQLite too (which stores any integer): a limit past
            # what a date can go back (stale_condition()'s cutoff) would fail every list.
            MaxValueValidator(
                32767, message=_("A deal is stale after %(limit_value)s days at most.")
            ),
        ],
        help_text=_(
            "An open deal in this stage for longer is marked stale on the list, the board and "
            "the dashboard. Empty: never."
        ),
    )

    objects = StageQuerySet.as_manager()

    class Meta:
        verbose_name = _("pipeline stage")
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name_key"],
                name="crm_stage_name_key_unique",
                violation_error_message=_("A stage with this name already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        with transaction.atomic():
            if self._state.adding and not self.order:
                # A stage created without an explicit position goes to the end of the pipeline.
                self.order = self._next_order()
            outcome_was = None
            if not self._state.adding and (update_fields is None or "outcome" in update_fields):
                # Read under a row lock, not from when this instance was loaded: a stale form
                # must neither miss a change of outcome nor apply one twice.
                outcome_was = (
                    Stage.objects.select_for_update()
                    .filter(pk=self.pk)
                    .values_list("outcome", flat=True)
                    .first()
                )
            super().save(*args, **kwargs)
            if outcome_was is not None and outcome_was != self.outcome:
                # Its deals follow, for plain ORM saves too; services.stage_change_outcome()
                # adds their history and the admin's confirmation.
                cause = OutcomeCause.of_stage_change(outcome_was, self.outcome)
                self.deals.update(
                    **Deal.outcome_changes(
                        cause, self.outcome, at=timezone.now(), outcome_was=outcome_was
                    )
                )

    @staticmethod
    def _next_order() -> int:
        """max(order) + 1, under a transaction-scoped lock so that two stages created at once
        get two positions. A unique constraint on `order` is not an option: adminsortable2
        shifts positions with an UPDATE that passes through duplicates. On SQLite, transactions
        start IMMEDIATE (settings.py), which already serialises them."""
        transaction_lock("crm stage order")
        last = Stage.objects.aggregate(last=models.Max("order"))["last"]
        return (last or 0) + 1

    def natural_key(self):
        return (self.name,)

    @property
    def is_closed(self) -> bool:
        return self.outcome != self.Outcome.OPEN


class OutcomeCause(enum.StrEnum):
    """Why a deal meets its stage's outcome: the first column of Deal.STAGE_OUTCOME_RULE."""

    MOVED = "moved"  # created in the stage, or moved into it
    STAYED = "stayed"  # saved again in its stage
    STAGE_REOPENED = "stage_reopened"  # its stage's outcome went from won or lost to open
    STAGE_CLOSED = "stage_closed"  # its stage's outcome went from open to won or lost
    STAGE_RECLASSIFIED = "stage_reclassified"  # its stage's outcome went won <-> lost

    @classmethod
    def of_stage_change(cls, outcome_was: str, outcome: str) -> "OutcomeCause":
        if outcome == Stage.Outcome.OPEN:
            return cls.STAGE_REOPENED
        return cls.STAGE_CLOSED if outcome_was == Stage.Outcome.OPEN else cls.STAGE_RECLASSIFIED


class Closing(enum.Enum):
    """What the rule does to `closed_at`."""

    CLEAR = "clear"  # open again: no close date
    NOW = "now"  # a new closing
    KEEP = "keep"  # the date it has (now if it has none)
    RESTORE = "restore"  # the remembered date if it returns to the remembered outcome, else now


class Memory(enum.Enum):
    """What the rule does to the close date and outcome a stage change reopened."""

    KEEP = "keep"
    FORGET = "forget"
    REMEMBER = "remember"


class Deal(NextStepFields):
    title = models.CharField(_("title"), max_length=200)
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.PROTECT, related_name="deals"
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0, message=_("The amount cannot be negative."))],
    )
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals"
    )
    expected_close_date = models.DateField(_("expected close"), null=True, blank=True)
    probability = models.PositiveSmallIntegerField(
        _("probability (%)"),
        default=50,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    owner = owner_field(related_name="deals")
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="deals")
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    # When the deal entered its stage (STAGE_OUTCOME_RULE: every move), so that the days in
    # stage and staleness need no join with the history.
    stage_entered_at = models.DateTimeField(
        _("in stage since"), default=timezone.now, editable=False
    )
    lost_reason = models.ForeignKey(
        LostReason,
        verbose_name=_("lost reason"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deals",
    )
    # What a change of the stage's own outcome to open took away, given back if the stage
    # returns to that outcome (STAGE_OUTCOME_RULE).
    reopened_outcome = models.CharField(
        _("outcome before its stage reopened"),
        max_length=10,
        choices=Stage.Outcome.choices,
        blank=True,
        editable=False,
    )
    reopened_closed_at = models.DateTimeField(
        _("closed at before its stage reopened"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = DealQuerySet.as_manager()

    # Who makes the change that save() records in the stage history (set by the caller, such
    # as the admin form, before saving; None for a change made by the system).
    actor = None

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("import_deal", _("Can import deals")),
            ("export_deal", _("Can export deals")),
            # Sees every deal when CRM_DEAL_VISIBILITY is "own" (visible_deals_condition).
            ("view_all_deals", _("Can view all deals, whoever owns them")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=100),
                name="crm_deal_probability_range",
                violation_error_message=_("Probability must be between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="crm_deal_amount_not_negative",
                violation_error_message=_("The amount cannot be negative."),
            ),
            next_step_constraint("deal"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="crm_deal_created_idx"),
            # The pipeline views (one stage, one owner) keep the list's -created_at order:
            # these let the database read the first page in order instead of sorting every
            # deal of that stage or owner (0.4 s at 100k deals on SQLite).
            models.Index(fields=["stage", "-created_at", "-id"], name="crm_deal_stage_created_idx"),
            models.Index(fields=["owner", "-created_at", "-id"], name="crm_deal_owner_created_idx"),
            models.Index(fields=["title"], name="crm_deal_title_idx"),
            # The admin breaks sort ties with -pk; with it in the index a sorted page needs no
            # sort of the ties (a few percent of amounts are empty; probability has few values).
            models.Index(fields=["amount", "-id"], name="crm_deal_amount_id_idx"),
            models.Index(fields=["probability", "-id"], name="crm_deal_probability_id_idx"),
            models.Index(fields=["expected_close_date"], name="crm_deal_expected_close_idx"),
            models.Index(fields=["closed_at"], name="crm_deal_closed_at_idx"),
            models.Index(fields=["stage", "-amount"], name="crm_deal_stage_amount_idx"),
            # The dashboard's "my open deals closing soonest", in its order (NULL dates last).
            models.Index(
                fields=["owner", "expected_close_date", "-amount", "id"],
                name="crm_deal_owner_closing_idx",
            ),
            models.Index(fields=["owner", "next_step_due"], name="crm_deal_owner_step_idx"),
            models.Index(fields=["next_step_due", "id"], name="crm_deal_step_due_idx"),
            # Stale deals: per stage, those that entered it before a cutoff.
            models.Index(fields=["stage", "stage_entered_at"], name="crm_deal_stage_entered_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        self.apply_stage_outcome()
        update_fields = kwargs.get("update_fields")
        writes_stage = update_fields is None or {"stage", "stage_id"} & set(update_fields)
        if update_fields is not None and writes_stage:
            kwargs["update_fields"] = {*update_fields, *self.STAGE_RULE_FIELDS}
        with transaction.atomic():
            super().save(*args, **kwargs)
            # A save that leaves the stage out of `update_fields` moves nothing: its move
            # is recorded by the save that writes the stage.
            if self.pending_stage_change is not None and writes_stage:
                self.pending_stage_change.save()
        if writes_stage:
            self._remember_stage()
        self.pending_stage_change = None

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._remember_stage()
        return instance

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        # Reloaded (also how a deferred stage loads), the stage is the stored one again: a
        # save after a bulk move and a refresh is no second move.
        self._remember_stage(fields)

    # What _remember_stage() keeps: (the field's attname, the attribute remembering it).
    _REMEMBERED_STAGE = (
        ("stage_id", "_loaded_stage_id"),
        ("stage_entered_at", "_loaded_stage_entered_at"),
    )

    def _remember_stage(self, fields=None) -> None:
        """Remember the stage as stored (loaded or just saved), so apply_stage_outcome() can
        tell a move from a re-save, and when the deal entered it, for a move's history row.
        Read from the instance's own values (only `fields`, the attnames or names reloaded,
        when given); a field that is not loaded (deferred) is forgotten, for _stored_stage()
        to read when a save needs it."""
        for attname, memory in self._REMEMBERED_STAGE:
            if fields is not None and not {attname, attname.removesuffix("_id")} & set(fields):
                continue
            if attname in self.__dict__:
                setattr(self, memory, self.__dict__[attname])
            else:
                self.__dict__.pop(memory, None)

    def _stored_stage(self, memory: str):
        """The remembered `_loaded_stage_id` or `_loaded_stage_entered_at`; when the deal was
        loaded without it (only(), defer()), read from the database: one query."""
        if memory not in self.__dict__:
            stored = (
                type(self)
                ._base_manager.filter(pk=self.pk)
                .values_list("stage_id", "stage_entered_at")
                .first()
            )
            self._loaded_stage_id, self._loaded_stage_entered_at = stored or (None, None)
        return self.__dict__[memory]

    # The history row the next save() records (apply_stage_outcome() prepares it for a move).
    pending_stage_change = None

    # The stage-outcome rule, one table read by both of its forms below: apply_stage_outcome()
    # (one deal, before it is saved) and outcome_changes() (the values of an UPDATE of many).
    # A row says, for a cause and whether the stage's outcome is now closed (won or lost), what
    # the close date becomes, whether the deal takes the closed state (probability 100 won, 0
    # lost, and no next step),
    # and what happens to the reopening memory (`reopened_outcome`, `reopened_closed_at`).
    #
    # Decided: moving a deal into a closed stage is a new closing, stamped now, also from
    # another closed stage (won -> lost by a move is a decision made today). A change of the
    # stage's own outcome is not: won <-> lost keeps each deal's close date, and a stage set to
    # open and back to the same outcome gives each deal the close date it had (a slip in the
    # stage form must not turn old wins into this month's). Closing to another outcome than the
    # one remembered is a new closing.
    STAGE_OUTCOME_RULE = {
        (OutcomeCause.MOVED, False): (Closing.CLEAR, False, Memory.FORGET),
        (OutcomeCause.MOVED, True): (Closing.NOW, True, Memory.FORGET),
        (OutcomeCause.STAYED, False): (Closing.CLEAR, False, Memory.KEEP),
        (OutcomeCause.STAYED, True): (Closing.KEEP, True, Memory.KEEP),
        (OutcomeCause.STAGE_REOPENED, False): (Closing.CLEAR, False, Memory.REMEMBER),
        (OutcomeCause.STAGE_CLOSED, True): (Closing.RESTORE, True, Memory.FORGET),
        (OutcomeCause.STAGE_RECLASSIFIED, True): (Closing.KEEP, True, Memory.KEEP),
    }
    # The probability a deal takes in a closed stage.
    CLOSED_PROBABILITY = {Stage.Outcome.WON: 100, Stage.Outcome.LOST: 0}
    # A deal in a closed stage has no next step: closing it, by any path, clears it.
    CLOSED_NEXT_STEP = {"next_step": "", "next_step_due": None}
    # Besides the table: a move (cause MOVED) stamps `stage_entered_at` and is recorded in the
    # stage history (DealStageChange), and a deal that is not lost has no lost reason.
    # The fields the rule writes, written whenever the stage is (the close date and the
    # reopening memory are never taken from a form).
    STAGE_RULE_FIELDS = (
        "closed_at",
        "probability",
        "reopened_outcome",
        "reopened_closed_at",
        *CLOSED_NEXT_STEP,
        "stage_entered_at",
        "lost_reason_id",
    )

    def apply_stage_outcome(self, *, at=None, outcome_was: str | None = None) -> None:
        """Put the fields of STAGE_OUTCOME_RULE in step with the deal's stage, in memory.

        The cause is a move when the deal is new or its stage is not the one it was loaded
        with, else a re-save; `outcome_was` (the stage's outcome before a change of the stage
        itself) makes it that change. The product changes a stage's deals with the bulk form,
        outcome_changes(); `outcome_was` keeps this form complete, so that one test runs both
        forms over every row of the table. `at` is when it happens (default now; the seed
        replays history with it). No query when `stage` is already loaded and the deal was
        loaded with its stage (one more otherwise: _stored_stage()).

        A move also stamps `stage_entered_at` and prepares its history row in
        `pending_stage_change` (from the stage the deal was loaded with, by `actor`), which
        save() records; the bulk writers (the import, the seed) bulk_create those rows.
        """
        if not self.stage_id:
            return
        outcome = self.stage.outcome
        if outcome_was is not None:
            cause = OutcomeCause.of_stage_change(outcome_was, outcome)
        elif self._state.adding or self.stage_id != self._stored_stage("_loaded_stage_id"):
            cause = OutcomeCause.MOVED
        else:
            cause = OutcomeCause.STAYED
        at = at or timezone.now()
        if outcome != Stage.Outcome.LOST:
            self.lost_reason = None
        self.pending_stage_change = None
        if cause is OutcomeCause.MOVED:
            self.stage_entered_at = at
            self.pending_stage_change = DealStageChange(
                deal=self,
                from_stage_id=None
                if self._state.adding
                else self._stored_stage("_loaded_stage_id"),
                to_stage_id=self.stage_id,
                changed_at=at,
                changed_by=self.actor,
                from_stage_entered_at=(
                    None if self._state.adding else self._stored_stage("_loaded_stage_entered_at")
                ),
                lost_reason_id=self.lost_reason_id,
            )
        closing, closed_probability, memory = self.STAGE_OUTCOME_RULE[cause, self.stage.is_closed]
        restorable = self.reopened_outcome == outcome and self.reopened_closed_at is not None
        restored = self.reopened_closed_at if restorable else at
        if memory is Memory.REMEMBER:
            self.reopened_outcome, self.reopened_closed_at = outcome_was, self.closed_at
        elif memory is Memory.FORGET:
            self.reopened_outcome, self.reopened_closed_at = "", None
        self.closed_at = {
            Closing.CLEAR: None,
            Closing.NOW: at,
            Closing.KEEP: self.closed_at or at,
            Closing.RESTORE: restored,
        }[closing]
        if closed_probability:
            self.probability = self.CLOSED_PROBABILITY[outcome]
            for name, value in self.CLOSED_NEXT_STEP.items():
                setattr(self, name, value)

    def replay_stage_moves(
        self, moves: list[tuple[Stage, datetime]], *, lost_reason: LostReason | None = None
    ) -> list[DealStageChange]:
        """Put this deal through `moves` ((stage, when), oldest first, the first its
        creation) by the rule, in memory, as if it were created and then saved after each
        move; returns the history rows apply_stage_outcome() prepares, for the caller to
        bulk_create once the deal has its id (the seed and the demo replay made-up
        histories with it). The deal ends in the last stage, entered then, closed then if
        that is won or lost, with `lost_reason` if lost (given on each move into a lost
        stage; the rule clears it on the others), each row by `actor`. The deal may be new,
        or loaded without its history (a fixture's); whether it counts as saved is left as
        it was, for bulk_create or bulk_update to write it. No query."""
        adding = self._state.adding
        changes = []
        for index, (stage, at) in enumerate(moves):
            self._state.adding = index == 0  # a creation: from no stage
            self.stage = stage
            if stage.outcome == Stage.Outcome.LOST:
                self.lost_reason = lost_reason
            self.apply_stage_outcome(at=at)
            changes.append(self.pending_stage_change)
            self._remember_stage()
        self._state.adding, self.pending_stage_change = adding, None
        return changes

    @classmethod
    def outcome_changes(
        cls, cause: OutcomeCause, outcome: str, *, at, outcome_was: str = ""
    ) -> dict:
        """The same rule as apply_stage_outcome(), as `update()` keyword arguments for deals
        now in a stage with `outcome` (all of them in SQL, whatever their number): `cause` a
        move, a re-save or a change of the stage's outcome from `outcome_was`."""
        closing, closed_probability, memory = cls.STAGE_OUTCOME_RULE[
            cause, outcome != Stage.Outcome.OPEN
        ]
        remembered = Q(reopened_outcome=outcome, reopened_closed_at__isnull=False)
        # An UPDATE's right-hand sides all read the row as it was, so the memory written here
        # does not feed the close date computed next to it.
        changes = {
            "closed_at": {
                Closing.CLEAR: Value(None),
                Closing.NOW: Value(at),
                Closing.KEEP: Coalesce(F("closed_at"), Value(at)),
                Closing.RESTORE: Case(
                    When(remembered, then=F("reopened_closed_at")), default=Value(at)
                ),
            }[closing],
            "updated_at": at,
        }
        if cause is OutcomeCause.MOVED:
            changes["stage_entered_at"] = at
        if outcome != Stage.Outcome.LOST:
            changes["lost_reason"] = None
        if memory is Memory.REMEMBER:
            changes |= {"reopened_outcome": outcome_was, "reopened_closed_at": F("closed_at")}
        elif memory is Memory.FORGET:
            changes |= {"reopened_outcome": "", "reopened_closed_at": None}
        if closed_probability:
            changes["probability"] = cls.CLOSED_PROBABILITY[outcome]
            changes |= cls.CLOSED_NEXT_STEP
        return changes

    @property
    def company(self) -> Company | None:
        return self.contact.company if self.contact_id else None

    def days_in_stage(self, *, now=None) -> int:
        """Whole days (of 24 hours) since the deal entered its stage."""
        return max(0, ((now or timezone.now()) - self.stage_entered_at).days)

    def is_stale(self, *, now=None) -> bool:
        """stale_condition() for this deal, in memory (its stage loaded): open, and in its
        stage for longer than the stage's `stale_after_days`."""
        days = self.stage.stale_after_days
        if not days or self.stage.is_closed:
            return False
        return self.stage_entered_at < (now or timezone.now()) - timedelta(days=days)
