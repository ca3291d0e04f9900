"""Names and emails unique by a key folded in Python (crm_admin/folding.py) instead of LOWER().

Existing rows get their keys here. Rows that differ under LOWER() but are the same once folded
(say "Straße AG" and "STRASSE AG", or "Ärzte GmbH" and "ärzte gmbh" on SQLite, whose LOWER()
folds ASCII only) cannot keep both: the migration then stops, changing nothing, and names every
such group, so that someone who knows the data renames or merges them (merging moves contacts
and deals, which no migration should guess). Run `migrate` again afterwards.
"""

from itertools import batched

from django.core.management.base import CommandError
from django.db import migrations, models

import crm_admin.folding
from crm_admin.folding import fold

# (model, source field, key field, old constraint, new constraint, message, plural)
KEYS = [
    (
        "tag",
        "name",
        "name_key",
        "crm_tag_name_ci_unique",
        "crm_tag_name_key_unique",
        "A tag with this name already exists.",
        "tags",
    ),
    (
        "company",
        "name",
        "name_key",
        "crm_company_name_ci_unique",
        "crm_company_name_key_unique",
        "A company with this name already exists.",
        "companies",
    ),
    (
        "contact",
        "email",
        "email_key",
        "crm_contact_email_ci_unique",
        "crm_contact_email_key_unique",
        "A contact with this email already exists.",
        "contacts",
    ),
    (
        "stage",
        "name",
        "name_key",
        "crm_stage_name_ci_unique",
        "crm_stage_name_key_unique",
        "A stage with this name already exists.",
        "pipeline stages",
    ),
]


def fill_keys(apps, schema_editor):
    connection = schema_editor.connection
    qn = connection.ops.quote_name
    clashes = []
    updates = []
    for model_name, source, key, _old, _new, _message, plural in KEYS:
        model = apps.get_model("crm_admin", model_name)
        rows = list(model.objects.order_by("pk").values_list("pk", source))
        groups: dict[str, list[tuple[int, str]]] = {}
        for pk, value in rows:
            groups.setdefault(fold(value), []).append((pk, value))
        for group in groups.values():
            if len(group) > 1:
                spelled = ", ".join(f"“{value}” (id {pk})" for pk, value in group)
                clashes.append(f"{plural}: {spelled}")
        updates.append(
            (qn(model._meta.db_table), qn(key), [(pk, fold(value)) for pk, value in rows])
        )
    if clashes:
        raise CommandError(
            "These records are the same ignoring case once Unicode is folded (crm_admin/"
            "folding.py), which the new unique constraints refuse:\n  "
            + "\n  ".join(clashes)
            + "\nRename or merge them (in the admin, before upgrading), then run migrate again. "
            "Nothing was changed."
        )
    # One UPDATE per 1,000 rows (SQLite 3.33+ and PostgreSQL both take UPDATE ... FROM, and
    # both name VALUES columns column1, column2), not one per row: a million contacts is a
    # thousand statements.
    with connection.cursor() as cursor:
        for table, column, values in updates:
            for batch in batched(values, 1000):
                rows = ", ".join(["(%s, %s)"] * len(batch))
                cursor.execute(
                    f"UPDATE {table} SET {column} = v.column2 "
                    f"FROM (VALUES {rows}) AS v "
                    f"WHERE {table}.{qn('id')} = CAST(v.column1 AS BIGINT)",
                    [item for pair in batch for item in pair],
                )


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0006_board_cards_index_postgresql")]

    operations = [
        *(
            migrations.AddField(
                model_name=model_name,
                name=key,
                field=crm_admin.folding.FoldedKeyField(source=source),
            )
            for model_name, source, key, *_rest in KEYS
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        *(
            migrations.RemoveConstraint(model_name=model_name, name=old)
            for model_name, _source, _key, old, *_rest in KEYS
        ),
        *(
            migrations.AddConstraint(
                model_name=model_name,
                constraint=models.UniqueConstraint(
                    fields=[key], name=new, violation_error_message=message
                ),
            )
            for model_name, _source, key, _old, new, message, _plural in KEYS
        ),
    ]
