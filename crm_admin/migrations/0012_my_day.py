from django.db import migrations

# Issue 12, My day: the count of a user's open deals without a next step (selectors.my_day).
# Closed deals have no step either (Deal.STAGE_OUTCOME_RULE), so the index holds the owner and
# the stage: the count reads the user's entries under the open stages alone, from the index,
# however many of their deals do have a step. PostgreSQL only, as 0006 and 0009: SQLite counts
# the rows, fast at the sizes it serves.
INDEX = "crm_deal_owner_no_step_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} "
            "ON crm_admin_deal (owner_id, stage_id) WHERE next_step = ''"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0011_next_steps")]

    operations = [migrations.RunPython(create_index, drop_index)]
