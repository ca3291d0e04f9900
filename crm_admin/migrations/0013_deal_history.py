"""The stage history, time in stage, stale deals and lost reasons (issue 13).

Existing deals get one history row each, from no stage into their current stage at their
creation, and that time as the time they entered it: what a deal did before is not known.
"""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import crm_admin.folding
from crm_admin.deal_history import SHIPPED_LOST_REASONS
from crm_admin.folding import fold


def ship_lost_reasons(apps, schema_editor):
    LostReason = apps.get_model("crm_admin", "LostReason")
    for order, name in enumerate(SHIPPED_LOST_REASONS, start=1):
        LostReason.objects.get_or_create(
            name_key=fold(name), defaults={"name": name, "order": order}
        )


# One statement each, whatever the number of deals.
FIRST_HISTORY = [
    "UPDATE crm_admin_deal SET stage_entered_at = created_at",
    "INSERT INTO crm_admin_dealstagechange "
    "(deal_id, from_stage_id, to_stage_id, changed_at, changed_by_id, from_stage_entered_at, "
    "lost_reason_id) "
    "SELECT id, NULL, stage_id, created_at, NULL, NULL, NULL FROM crm_admin_deal",
]


class Migration(migrations.Migration):
    dependencies = [
        ("crm_admin", "0012_my_day"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="deal",
            name="stage_entered_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="in stage since"
            ),
        ),
        migrations.AddField(
            model_name="stage",
            name="stale_after_days",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="An open deal in this stage for longer is marked stale on the list, the board and the dashboard. Empty: never.",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(
                        1, message="A deal is stale after one day at least."
                    ),
                    django.core.validators.MaxValueValidator(
                        32767, message="A deal is stale after %(limit_value)s days at most."
                    ),
                ],
                verbose_name="stale after (days)",
            ),
        ),
        migrations.CreateModel(
            name="LostReason",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("name_key", crm_admin.folding.FoldedKeyField(source="name")),
                (
                    "order",
                    models.PositiveIntegerField(db_index=True, default=0, verbose_name="order"),
                ),
            ],
            options={
                "verbose_name": "lost reason",
                "ordering": ["order", "name", "id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("name_key",),
                        name="crm_lostreason_name_key_unique",
                        violation_error_message="A lost reason with this name already exists.",
                    )
                ],
            },
            bases=(crm_admin.folding.FoldedKeys, models.Model),
        ),
        migrations.CreateModel(
            name="DealStageChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "changed_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="changed at"
                    ),
                ),
                (
                    "from_stage_entered_at",
                    models.DateTimeField(
                        blank=True, null=True, verbose_name="entered the previous stage at"
                    ),
                ),
                (
                    "changed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="changed by",
                    ),
                ),
                (
                    "deal",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stage_changes",
                        to="crm_admin.deal",
                        verbose_name="deal",
                    ),
                ),
                (
                    "from_stage",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="crm_admin.stage",
                        verbose_name="from stage",
                    ),
                ),
                (
                    "to_stage",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="stage_changes",
                        to="crm_admin.stage",
                        verbose_name="to stage",
                    ),
                ),
                (
                    "lost_reason",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="stage_changes",
                        to="crm_admin.lostreason",
                        verbose_name="lost reason",
                    ),
                ),
            ],
            options={
                "verbose_name": "deal stage change",
                "ordering": ["-changed_at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="deal",
            name="lost_reason",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="deals",
                to="crm_admin.lostreason",
                verbose_name="lost reason",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                fields=["stage", "stage_entered_at"], name="crm_deal_stage_entered_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="dealstagechange",
            index=models.Index(
                fields=["deal", "-changed_at", "-id"], name="crm_stagechange_deal_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="dealstagechange",
            index=models.Index(fields=["changed_at"], name="crm_stagechange_changed_idx"),
        ),
        migrations.AddIndex(
            model_name="dealstagechange",
            index=models.Index(fields=["to_stage", "changed_at"], name="crm_stagechange_to_idx"),
        ),
        migrations.AddIndex(
            model_name="dealstagechange",
            index=models.Index(fields=["from_stage"], name="crm_stagechange_from_idx"),
        ),
        # Last: on PostgreSQL a table cannot be altered after rows of it changed in the same
        # transaction while its deferred foreign-key checks are pending.
        migrations.RunPython(ship_lost_reasons, migrations.RunPython.noop),
        migrations.RunSQL(FIRST_HISTORY, migrations.RunSQL.noop),
    ]
