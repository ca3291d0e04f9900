from django.db import migrations

# The board shows each stage's largest deals: ORDER BY amount DESC NULLS LAST, id. PostgreSQL
# sorts NULLs first in a plain descending index, so it needs this one to read a column's first
# cards straight from an index (SQLite already does, with crm_deal_stage_amount_idx: its
# descending order puts NULLs last, and it cannot declare NULLS LAST in an index anyway).
INDEX = "crm_deal_stage_amount_nl_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} "
            "ON crm_admin_deal (stage_id, amount DESC NULLS LAST, id)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0005_deal_list_indexes")]

    operations = [migrations.RunPython(create_index, drop_index)]
