from django.conf import settings
from django.db import migrations, models

import crm_admin.models

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


def _summary_sql(name: str, spec: dict) -> list[str]:
    keys = list(spec["keys"])
    measures = list(spec["measures"])
    key_list, measure_list = ", ".join(keys), ", ".join(measures)
    sums = ", ".join(f"sum({m})" for m in measures)
    nonzero = " OR ".join(f"sum({m}) <> 0" for m in measures)
    same_key = " AND ".join(
        f"coalesce(t.{k}, 'infinity') = coalesce(d.{k}, 'infinity')"
        if "NOT NULL" not in spec["keys"][k]
        else f"t.{k} = d.{k}"
        for k in keys
    )

    def rows(transition: str, sign: str) -> str:
        values = [f"{expr} AS {k}" for k, expr in spec["key_values"].items()]
        values += [f"{sign}{expr} AS {m}" for m, expr in spec["measures"].items()]
        return f"SELECT {', '.join(values)} FROM {transition}"

    changes = {
        "insert": rows("new_rows", ""),
        "delete": rows("old_rows", "-"),
        "update": f"{rows('new_rows', '')} UNION ALL {rows('old_rows', '-')}",
    }
    columns = ", ".join(f"{k} {t}" for k, t in spec["keys"].items())
    columns += ", " + ", ".join(f"{m} numeric NOT NULL" for m in measures)
    statements = [
        f"CREATE TABLE {name} (id bigserial PRIMARY KEY, {columns})",
        f"CREATE INDEX {name}_key_idx ON {name} ({key_list})",
        f"INSERT INTO {name} ({key_list}, {measure_list}) "
        f"SELECT {key_list}, {sums} FROM ({rows(spec['table'], '')}) AS change "
        f"GROUP BY {key_list}",
    ]
    for operation, change in changes.items():
        statements.append(
            f"""CREATE FUNCTION {name}_after_{operation}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                WITH change AS ({change}),
                picked AS (
                    SELECT t.id FROM {name} t
                    WHERE EXISTS (SELECT FROM change d WHERE {same_key})
                    FOR UPDATE SKIP LOCKED
                ),
                folded AS (
                    DELETE FROM {name} t USING picked WHERE t.id = picked.id
                    RETURNING {key_list}, {measure_list}
                )
                INSERT INTO {name} ({key_list}, {measure_list})
                SELECT {key_list}, {sums}
                FROM (SELECT * FROM folded UNION ALL SELECT * FROM change) AS total
                GROUP BY {key_list} HAVING {nonzero};
                RETURN NULL;
            END $$"""
        )
        transitions = {
            "insert": "NEW TABLE AS new_rows",
            "delete": "OLD TABLE AS old_rows",
            "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }[operation]
        statements.append(
            f"CREATE TRIGGER {name}_after_{operation} AFTER {operation.upper()} "
            f"ON {spec['table']} REFERENCING {transitions} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_after_{operation}()"
        )
    statements += [
        # DELETE, not TRUNCATE: the latter would lock out readers until the transaction ends.
        f"""CREATE FUNCTION {name}_after_truncate() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN DELETE FROM {name}; RETURN NULL; END $$""",
        f"CREATE TRIGGER {name}_after_truncate AFTER TRUNCATE ON {spec['table']} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_after_truncate()",
    ]
    return statements


def _drop_summary_sql(name: str, spec: dict) -> list[str]:
    operations = ("insert", "update", "delete", "truncate")
    return [
        *(f"DROP TRIGGER IF EXISTS {name}_after_{op} ON {spec['table']}" for op in operations),
        *(f"DROP FUNCTION IF EXISTS {name}_after_{op}()" for op in operations),
        f"DROP TABLE IF EXISTS {name}",
    ]


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
        for statement in _summary_sql(name, spec):
            schema_editor.execute(statement)


def drop_postgresql_reads(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, spec in SUMMARIES.items():
        for statement in _drop_summary_sql(name, spec):
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
