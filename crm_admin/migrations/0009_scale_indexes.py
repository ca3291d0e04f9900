from django.conf import settings
from django.db import migrations, models

import crm_admin.models
from crm_admin.migrations._running_totals import drop_summary_sql, summary_sql

# Issue 11, the dashboard and the board at a million deals (PostgreSQL only; SQLite reads the
# live aggregates, which are fast at the sizes it serves).
#
# Indexes in the order the reads want their rows: the follow-ups list (never contacted first,
# then the oldest: a plain ascending index puts NULLs last on PostgreSQL) and the closed deals'
# date ranges, which read stage and amount from the index alone.
PG_INDEXES = {
    "crm_contact_follow_up_idx": "crm_admin_contact (last_contacted_at ASC NULLS FIRST, id)",
    "crm_deal_closed_cover_idx": "crm_admin_deal (closed_at) INCLUDE (stage_id, amount)",
}

# Search: a trigram index on exactly the expression Django's `icontains` emits on PostgreSQL,
# UPPER(col::text) LIKE UPPER('%word%'), for each column a contact, company or deal search
# reads (crm_admin/search.py; words of three letters or more, so each has a trigram).
SEARCHED_COLUMNS = {
    "crm_admin_contact": ("first_name", "last_name", "email"),
    "crm_admin_company": ("name", "industry", "website"),
    "crm_admin_deal": ("title",),
}
PG_INDEXES |= {
    f"crm_{table.removeprefix('crm_admin_')}_{column}_trgm": (
        f"{table} USING gin (UPPER({column}::text) gin_trgm_ops)"
    )
    for table, columns in SEARCHED_COLUMNS.items()
    for column in columns
}

# Running totals that statement-level triggers keep on every write to the table, whatever
# the path (admin, bulk actions, board, import, a stage's change of outcome, deletion, plain
# ORM, raw SQL, TRUNCATE): the dashboard and the unfiltered board read a few thousand rows of
# them instead of every deal and contact. Each statement replaces the rows of the keys it
# changes by one row holding their sum plus its change, skipping rows another open transaction
# is replacing (SKIP LOCKED, so that key has two rows for a while): writers never wait for each
# other, and a reader's snapshot always sums to the exact figure.
# A missing key counts zero; NULL keys are folded through 'infinity', which no Django date holds.
SUMMARIES = {
    # Deals per stage and expected close date: the board's columns, the open pipeline by
    # stage and the forecast by month.
    "crm_deal_totals": {
        "table": "crm_admin_deal",
        "keys": {"stage_id": "bigint NOT NULL", "expected_close_date": "date"},
        "key_values": {"stage_id": "stage_id", "expected_close_date": "expected_close_date"},
        "measures": {
            "deals": "1",
            "amount": "coalesce(amount, 0)",
            "amount_x_probability": "coalesce(amount * probability, 0)",
        },
    },
    # Contacts per UTC day of their last contact (NULL: never): the follow-ups due count.
    "crm_contact_contacted_days": {
        "table": "crm_admin_contact",
        "keys": {"day": "date"},
        "key_values": {"day": "(last_contacted_at AT TIME ZONE 'UTC')::date"},
        "measures": {"contacts": "1"},
    },
}


def create_postgresql_reads(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # Trusted since PostgreSQL 13: the database's owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index, target in PG_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {target}")
    for name, spec in SUMMARIES.items():
        # No write may slip between the totals' first sum and their triggers.
        schema_editor.execute(f"LOCK TABLE {spec['table']} IN SHARE ROW EXCLUSIVE MODE")
        for statement in summary_sql(name, spec):
            schema_editor.execute(statement)


def drop_postgresql_reads(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in SUMMARIES.items():
        for statement in drop_summary_sql(name, spec):
            schema_editor.execute(statement)
    for index in PG_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index}")


class Migration(migrations.Migration):
    dependencies = [
        ("crm_admin", "0008_stage_outcome_history"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="savedfilter",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=crm_admin.models.delete_private_keep_shared,
                related_name="saved_filters",
                to=settings.AUTH_USER_MODEL,
                verbose_name="owner",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                fields=["owner", "expected_close_date", "-amount", "id"],
                name="crm_deal_owner_closing_idx",
            ),
        ),
        migrations.RunPython(create_postgresql_reads, drop_postgresql_reads),
    ]
