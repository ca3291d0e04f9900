"""How deals got where they are: every change of a deal's stage (DealStageChange) and why
lost deals were lost (LostReason).

The rows are written by the stage-outcome rule's two forms in crm_admin.models: a deal's
save() records its own move (Deal.apply_stage_outcome() prepares the row), and
DealStageChangeQuerySet.record_moves() records a bulk move in one INSERT ... SELECT. Importers
and the seed, which write deals with bulk_create, save the rows the rule prepared.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm_admin.conf import crm_settings
from crm_admin.folding import FoldedKeyField, FoldedKeys, FoldedKeysQuerySet, fold
from crm_admin.sql import select_sql

# The reasons a new database ships with (migration 0013), in their order.
SHIPPED_LOST_REASONS = ("Price", "Competitor", "No budget", "No decision", "Timing", "Other")


def lost_reason_required() -> bool:
    """Whether marking deals lost on an interactive path needs a reason (the setting
    CRM_REQUIRE_LOST_REASON, on unless a project embedding the app leaves it out)."""
    return crm_settings.CRM_REQUIRE_LOST_REASON


def check_lost_reason(stage, reason) -> None:
    """Refuse a move into a lost `stage` without a `reason` when reasons are required: the
    one check behind the deal form, the bulk actions, the deal page's button and the board.
    Imports and plain ORM saves may leave the reason empty."""
    if stage is not None and stage.outcome == "lost" and reason is None and lost_reason_required():
        raise ValidationError(
            {"lost_reason": _("Say why the deal was lost: choose a lost reason.")}
        )


class LostReasonQuerySet(FoldedKeysQuerySet):
    def get_by_natural_key(self, name):
        return self.get(name_key=fold(name))

    def with_deal_count(self):
        """Each reason's deals (lost for it) as `deal_count`: a correlated COUNT, as
        StageQuerySet.with_deal_count() (the admin list)."""
        from crm_admin.models import Deal, _count_subquery

        return self.annotate(deal_count=_count_subquery(Deal, "lost_reason"))


class LostReason(FoldedKeys, models.Model):
    name = models.CharField(_("name"), max_length=100)
    name_key = FoldedKeyField(source="name")
    order = models.PositiveIntegerField(_("order"), default=0, db_index=True)

    objects = LostReasonQuerySet.as_manager()

    class Meta:
        verbose_name = _("lost reason")
        ordering = ["order", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name_key"],
                name="crm_lostreason_name_key_unique",
                violation_error_message=_("A lost reason with this name already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def natural_key(self):
        return (self.name,)


class DealStageChangeQuerySet(models.QuerySet):
    def record_moves(self, deals: models.QuerySet, *, stage, at, actor=None, lost_reason=None):
        """One row per deal of `deals` moving into `stage` at `at`: the bulk form of the row a
        deal's own save() records (Deal.apply_stage_outcome()). One INSERT ... SELECT that
        reads each deal's stage and the time it entered it before the UPDATE that moves them;
        returns how many rows it wrote."""
        qn = connection.ops.quote_name
        deal_ids, select_params = select_sql(deals.order_by().values("pk"))
        sql = (
            f"INSERT INTO {qn(self.model._meta.db_table)} "
            "(deal_id, from_stage_id, to_stage_id, changed_at, changed_by_id, "
            "from_stage_entered_at, lost_reason_id) "
            "SELECT d.id, d.stage_id, %s, %s, %s, d.stage_entered_at, %s "
            f"FROM {qn(deals.model._meta.db_table)} d WHERE d.id IN ({deal_ids})"
        )
        params = (
            stage.pk,
            connection.ops.adapt_datetimefield_value(at),
            getattr(actor, "pk", None),
            getattr(lost_reason, "pk", None),
            *select_params,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def for_timeline(self):
        return self.select_related("from_stage", "to_stage", "changed_by", "lost_reason", "deal")


class DealStageChange(models.Model):
    """A deal entering a stage: from `from_stage` (none when the deal was created) to
    `to_stage`, at `changed_at`, by `changed_by`. `from_stage_entered_at` is when the deal had
    entered the stage it left, so the time spent there is one subtraction (pipeline velocity).
    `lost_reason` is the reason given when the move marked the deal lost."""

    deal = models.ForeignKey(
        "crm_admin.Deal",
        verbose_name=_("deal"),
        on_delete=models.CASCADE,
        related_name="stage_changes",
    )
    from_stage = models.ForeignKey(
        "crm_admin.Stage",
        verbose_name=_("from stage"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    to_stage = models.ForeignKey(
        "crm_admin.Stage",
        verbose_name=_("to stage"),
        on_delete=models.PROTECT,
        related_name="stage_changes",
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    from_stage_entered_at = models.DateTimeField(
        _("entered the previous stage at"), null=True, blank=True
    )
    lost_reason = models.ForeignKey(
        LostReason,
        verbose_name=_("lost reason"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stage_changes",
    )

    objects = DealStageChangeQuerySet.as_manager()

    class Meta:
        verbose_name = _("deal stage change")
        ordering = ["-changed_at", "-id"]
        indexes = [
            # A deal's timeline, newest first.
            models.Index(fields=["deal", "-changed_at", "-id"], name="crm_stagechange_deal_idx"),
            # Pipeline velocity and conversion over the last days.
            models.Index(fields=["changed_at"], name="crm_stagechange_changed_idx"),
            models.Index(fields=["to_stage", "changed_at"], name="crm_stagechange_to_idx"),
            # A stage's deletion checks the history that points at it.
            models.Index(fields=["from_stage"], name="crm_stagechange_from_idx"),
        ]

    def __str__(self) -> str:
        if self.from_stage_id is None:
            return _("Created in %(to)s") % {"to": self.to_stage}
        return _("%(from)s → %(to)s") % {"from": self.from_stage, "to": self.to_stage}
