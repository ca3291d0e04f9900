"""`manage.py crm_match_keys [--batch-size N]`: recompute every stored key from its sources."""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, transaction

from crm_admin.folding import FoldedKeysQuerySet, derived_keys

# Rows held in memory at once; a larger --batch-size would only hold more (or overflow).
MAX_BATCH_SIZE = 100_000


class Command(BaseCommand):
    help = (
        "Recompute the match keys (duplicate detection) and the folded keys (names and "
        "emails ignoring case) of every CRM record from its stored values, and write those "
        "that changed. Run it after changing CRM_PHONE_REGION: phone numbers written without "
        "a country code are read in that region. Safe to run again; each model's rows are "
        "rewritten in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="Rows read and written per query (default: 2000).",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, batch_size, database, **options):
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}.")
        for model in apps.get_app_config("crm_admin").get_models():
            if not derived_keys(model):
                continue
            # Every row, whatever the model's default manager leaves out.
            rows = FoldedKeysQuerySet(model, using=database)
            with transaction.atomic(using=database):
                written = rows.derive_keys(batch_size=batch_size)
            self.stdout.write(
                f"{model._meta.verbose_name_plural}: {written} of {rows.count()} rows rewritten."
            )
