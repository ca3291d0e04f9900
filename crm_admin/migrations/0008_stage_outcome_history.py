from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0007_folded_keys")]

    operations = [
        migrations.AddField(
            model_name="deal",
            name="reopened_outcome",
            field=models.CharField(
                blank=True,
                choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")],
                editable=False,
                max_length=10,
                verbose_name="outcome before its stage reopened",
            ),
        ),
        migrations.AddField(
            model_name="deal",
            name="reopened_closed_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                null=True,
                verbose_name="closed at before its stage reopened",
            ),
        ),
    ]
