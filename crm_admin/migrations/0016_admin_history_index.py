"""An index on the admin's history by object, which merging records reads and rewrites.

Django's LogEntry has no index on (content_type, object_id): its history page and the merge's
move of the merged records' history would read the whole table, which grows with every edit.
"""

from django.db import migrations

INDEX = "crm_admin_log_object_idx"


class Migration(migrations.Migration):
    dependencies = [
        ("crm_admin", "0015_duplicates_and_merges"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON django_admin_log (content_type_id, object_id)",
            f"DROP INDEX IF EXISTS {INDEX}",
            elidable=False,
        ),
    ]
