from django.db import migrations

from crm_admin.migrations._running_totals import drop_summary_sql, summary_sql

# Issue 11: the dashboard's closed-deal figures at a million deals (PostgreSQL only, like
# 0009's running totals, and kept the same way on every write path). "Won this month", the
# win rate and won/lost by month read closed deals per stage and UTC day of `closed_at`: a few
# rows per day instead of every deal closed in the window. Open deals (no `closed_at`) are not
# counted, so writes to open deals change nothing here.
SUMMARIES = {
    "crm_deal_closed_days": {
        "table": "crm_admin_deal",
        "keys": {"stage_id": "bigint NOT NULL", "day": "date NOT NULL"},
        "key_values": {"stage_id": "stage_id", "day": "(closed_at AT TIME ZONE 'UTC')::date"},
        "measures": {"deals": "1", "amount": "coalesce(amount, 0)"},
        "where": "closed_at IS NOT NULL",
    },
}


def create_closed_deal_days(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in SUMMARIES.items():
        # No write may slip between the totals' first sum and their triggers.
        schema_editor.execute(f"LOCK TABLE {spec['table']} IN SHARE ROW EXCLUSIVE MODE")
        for statement in summary_sql(name, spec):
            schema_editor.execute(statement)


def drop_closed_deal_days(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in SUMMARIES.items():
        for statement in drop_summary_sql(name, spec):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0009_scale_indexes")]

    operations = [migrations.RunPython(create_closed_deal_days, drop_closed_deal_days)]
