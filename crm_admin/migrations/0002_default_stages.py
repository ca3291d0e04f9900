from django.db import migrations

DEFAULT_STAGES = [
    ("Prospecting", "open"),
    ("Negotiation", "open"),
    ("Closed-Won", "won"),
    ("Closed-Lost", "lost"),
]


def create_default_stages(apps, schema_editor):
    Stage = apps.get_model("crm_admin", "Stage")
    for order, (name, outcome) in enumerate(DEFAULT_STAGES, start=1):
        Stage.objects.get_or_create(name=name, defaults={"order": order, "outcome": outcome})


def remove_default_stages(apps, schema_editor):
    Stage = apps.get_model("crm_admin", "Stage")
    Stage.objects.filter(name__in=[name for name, _ in DEFAULT_STAGES], deals__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0001_initial")]

    operations = [migrations.RunPython(create_default_stages, remove_default_stages)]
