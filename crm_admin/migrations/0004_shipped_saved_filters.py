from urllib.parse import urlencode

from django.db import migrations

# (name, tag, extra parameters): both on the contact list, shared with all staff.
SHIPPED = [
    ("Buyers not contacted in 30 days", "Buyers", {"last_contacted": "30d"}),
    ("Consulting - pending response", "Consulting", {"status__exact": "pending_response"}),
]


def create_saved_filters(apps, schema_editor):
    Tag = apps.get_model("crm_admin", "Tag")
    SavedFilter = apps.get_model("crm_admin", "SavedFilter")
    for name, tag_name, params in SHIPPED:
        tag = Tag.objects.filter(name__iexact=tag_name).first()
        if tag is None:
            tag = Tag.objects.create(name=tag_name)
        query = urlencode(sorted({**params, "tags__id__exact": str(tag.pk)}.items()))
        SavedFilter.objects.get_or_create(
            name=name, target="contact", owner=None, defaults={"query": query, "shared": True}
        )


def remove_saved_filters(apps, schema_editor):
    SavedFilter = apps.get_model("crm_admin", "SavedFilter")
    SavedFilter.objects.filter(owner=None, name__in=[name for name, _, _ in SHIPPED]).delete()


class Migration(migrations.Migration):
    dependencies = [("crm_admin", "0003_saved_filters")]

    operations = [migrations.RunPython(create_saved_filters, remove_saved_filters)]
